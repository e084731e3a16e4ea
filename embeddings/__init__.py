"""Text to vectors: packaged sentence encoders and the FAISS vector index. Knows nothing of labels."""

from embeddings.encoder import ENCODERS, Encoder, get_encoder

__all__ = ["ENCODERS", "Encoder", "get_encoder"]
