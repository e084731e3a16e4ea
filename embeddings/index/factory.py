"""The FAISS factory: one FAISS index per kind (flat / HNSW) and storage (float32 / float16 / int8), trained if needed.

Kinds
    ``flat`` (default): exact inner-product search (``IndexFlatIP``). ``hnsw``: ``IndexHNSWFlat`` graph
    search for large stores.

Storage
    ``storage="float16"`` keeps vectors as half floats (``IndexScalarQuantizer``/``IndexHNSWSQ``
    with ``QT_fp16``): half the memory, scores within ~1e-3 of float32. ``storage="int8"`` keeps one byte
    per dimension (``QT_8bit``, per-dimension ranges learnt from the first ``add``, which must hold at least
    ``INT8_MIN_TRAIN`` vectors): a quarter of the memory; at 1M vectors HNSW32 over int8 is the only layout
    measured within 1 GiB at recall@10 >= 0.99 (``python -m benchmarks.bench_search``). A rebuild re-learns
    the ranges from the live vectors. ``float32`` is the default.
"""

from __future__ import annotations

from typing import Literal

import faiss
import numpy as np

IndexKind = Literal["flat", "hnsw"]
Storage = Literal["float32", "float16", "int8"]
KINDS = ("flat", "hnsw")
STORAGES = ("float32", "float16", "int8")
# The FAISS classes a saved index of each kind may hold (any storage).
FAISS_TYPES: dict[str, tuple[type, ...]] = {
    "flat": (faiss.IndexFlat, faiss.IndexScalarQuantizer),
    "hnsw": (faiss.IndexHNSW,),
}
# int8 learns each dimension's range from the first add: fewer vectors than this give ranges too narrow to trust.
INT8_MIN_TRAIN = 1_000
INT8_TRAIN_SAMPLE = 100_000
# Rows read back from FAISS at a time (re-scoring subsets, rebuilding graphs): bounds extra memory.
CHUNK_ROWS = 16_384


def new_faiss_index(
    kind: str, dim: int, storage: str, *, hnsw_m: int, ef_construction: int, ef_search: int
) -> faiss.Index:
    """An empty inner-product FAISS index of `kind` holding vectors as `storage`."""
    ip = faiss.METRIC_INNER_PRODUCT
    quantiser = {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}.get(storage)
    if kind == "flat":
        if quantiser is None:
            return faiss.IndexFlatIP(dim)
        return faiss.IndexScalarQuantizer(dim, quantiser, ip)
    if quantiser is None:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, ip)
    else:
        index = faiss.IndexHNSWSQ(dim, quantiser, hnsw_m, ip)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    return index


def train(index: faiss.Index, vecs: np.ndarray) -> None:
    """Learn int8 ranges from `vecs` (a seeded sample when large); other storages need no training."""
    if index.is_trained:
        return
    if len(vecs) < INT8_MIN_TRAIN:
        raise ValueError(
            f"int8 storage learns each dimension's range from the first add, which must hold at least "
            f"{INT8_MIN_TRAIN:,} vectors (got {len(vecs):,}); add a larger first batch or use storage='float16'"
        )
    if len(vecs) > INT8_TRAIN_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(len(vecs), INT8_TRAIN_SAMPLE, replace=False))
        vecs = vecs[rows]
    index.train(np.ascontiguousarray(vecs))


def vectors_at(index: faiss.Index, rows: np.ndarray) -> np.ndarray:
    """The vectors FAISS stores at `rows`, as float32 [len(rows), dim]."""
    if rows.size == 0:
        return np.empty((0, index.d), dtype=np.float32)
    return np.ascontiguousarray(index.reconstruct_batch(np.ascontiguousarray(rows, dtype=np.int64)))


def rebuilt(old: faiss.Index, fresh: faiss.Index, live_rows: np.ndarray) -> faiss.Index:
    """`fresh` (empty, from new_faiss_index) filled with `old`'s vectors at `live_rows`, read in chunks."""
    if not fresh.is_trained and live_rows.size:
        sample = np.sort(np.random.default_rng(0).choice(live_rows, min(live_rows.size, INT8_TRAIN_SAMPLE), replace=False))
        fresh.train(vectors_at(old, sample))  # the live vectors' ranges; a store emptied to few rows keeps them
    for start in range(0, live_rows.size, CHUNK_ROWS):
        fresh.add(vectors_at(old, live_rows[start : start + CHUNK_ROWS]))
    return fresh
