"""Text to vectors: packaged sentence encoders and the FAISS vector index. Knows nothing of labels."""

from autocode.embeddings.encoder import ENCODERS, Encoder, get_encoder
from autocode.embeddings.index import IndexFormatError, IndexMismatchError, VectorIndex

__all__ = ["ENCODERS", "Encoder", "IndexFormatError", "IndexMismatchError", "VectorIndex", "get_encoder"]
