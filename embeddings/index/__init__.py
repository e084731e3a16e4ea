"""The vector index: FAISS behind 64-bit ids, with add/upsert/remove, top-k search and atomic save/load."""

from autocode.embeddings.index.vector_index import (
    FORMAT_VERSION,
    INT8_MIN_TRAIN,
    IndexFormatError,
    IndexMismatchError,
    VectorIndex,
)

__all__ = ["FORMAT_VERSION", "INT8_MIN_TRAIN", "IndexFormatError", "IndexMismatchError", "VectorIndex"]
