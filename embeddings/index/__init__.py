"""The vector index: FAISS behind 64-bit ids, with add/upsert/remove, top-k search and atomic save/load.

One module a job: ``ids`` (id <-> FAISS row table), ``factory`` (FAISS index per kind and storage),
``search`` (top-k, whole or filtered), ``persistence`` (the saved folder, its manifest and checks) and
``vector_index`` (the VectorIndex class over them). Tunables such as ``search.EXACT_SUBSET_ROWS`` are
read from the module that holds them, so set (or monkeypatch) them there, not here.
"""

from autocode.embeddings.index.factory import INT8_MIN_TRAIN, STORAGES, IndexKind, Storage
from autocode.embeddings.index.persistence import FORMAT_VERSION, IndexFormatError, IndexMismatchError
from autocode.embeddings.index.search import Allowed
from autocode.embeddings.index.vector_index import VectorIndex

__all__ = [
    "FORMAT_VERSION",
    "INT8_MIN_TRAIN",
    "STORAGES",
    "Allowed",
    "IndexFormatError",
    "IndexKind",
    "IndexMismatchError",
    "Storage",
    "VectorIndex",
]
