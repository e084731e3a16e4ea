"""Top-k search, whole or filtered to allowed ids, over a FAISS index and its id table.

Scores and padding
    Scores are inner products, best first (cosine similarity for the encoder's unit vectors).
    When fewer than ``k`` records qualify, the rows are padded with id ``-1`` and score ``-inf``.

Tombstones
    An HNSW graph keeps removed rows (see ``ids``); every search then passes FAISS an
    ``IDSelectorBitmap`` of the live rows, so a removed id or the stale vector of an upserted id is
    never returned.

Filtered search
    ``allowed`` is an array/iterable of ids or a predicate on ids. A predicate is called once per live
    id (fine for thousands; pass an array for large stores). When few rows are allowed
    (``EXACT_SUBSET_ROWS`` or ``EXACT_SUBSET_FRACTION`` of the rows) the allowed vectors are scored
    exactly, since a graph walk rarely meets them; otherwise FAISS searches with an ``IDSelectorBitmap``
    (for HNSW with ``efSearch`` widened by the fraction filtered out).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import faiss
import numpy as np

from autocode.embeddings.index.factory import CHUNK_ROWS, vectors_at
from autocode.embeddings.index.ids import IdTable

# A filter allowing at most this many rows, or this share of them, is scored exactly over the subset.
EXACT_SUBSET_ROWS = 20_000
EXACT_SUBSET_FRACTION = 0.1
_QUERY_CHUNK = 256

Allowed = Callable[[int], bool] | np.ndarray | Iterable[int]


def check_k(k: int) -> int:
    """`k` as an int; ValueError unless it is a positive integer."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def allowed_rows(table: IdTable, allowed: Allowed) -> np.ndarray:
    """Sorted rows of the live records that `allowed` admits."""
    if callable(allowed):
        keep = np.fromiter((bool(allowed(int(i))) for i in table.keys), dtype=bool, count=table.keys.size)
        return np.sort(table.key_rows[keep])
    if isinstance(allowed, np.ndarray):
        arr = allowed
    elif isinstance(allowed, (set, frozenset, dict)) or not hasattr(allowed, "__len__"):
        arr = np.fromiter(allowed, dtype=np.int64)
    else:
        arr = np.asarray(allowed)
    if arr.dtype == np.bool_:
        raise TypeError("allowed must hold ids, not a boolean mask")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"allowed ids must be integers, got dtype {arr.dtype}")
    arr = np.unique(arr.astype(np.int64, copy=False).ravel())
    present, rows = table.lookup(arr)
    return np.sort(rows[present])


def search(
    index: faiss.Index, table: IdTable, q: np.ndarray, k: int, rows_allowed: np.ndarray | None, *, ef_search: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for checked queries `q`, over all live rows or only `rows_allowed`.

    `ef_search` is the HNSW search breadth, None for a flat index.
    """
    n = q.shape[0]
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    ids = np.full((n, k), -1, dtype=np.int64)
    total = table.rows
    if n == 0 or len(table) == 0 or (rows_allowed is not None and rows_allowed.size == 0):
        return scores, ids
    bits: np.ndarray | None = None
    if rows_allowed is None:
        admitted = len(table)
        if table.dead:
            bits = table.live_bitmap()
    else:
        admitted = int(rows_allowed.size)
        if admitted <= max(EXACT_SUBSET_ROWS, EXACT_SUBSET_FRACTION * total):
            return _search_subset(index, table, q, k, rows_allowed)
        mask = np.zeros(total, dtype=bool)
        mask[rows_allowed] = True
        bits = np.packbits(mask, bitorder="little")
    # `bits` must outlive the search: the selector only points at its buffer.
    selector = faiss.IDSelectorBitmap(total, faiss.swig_ptr(bits)) if bits is not None else None
    if ef_search is not None:
        # A graph walk must hold at least k candidates, and more when the selector rejects many rows.
        base_ef = max(ef_search, k)
        ef = min(math.ceil(base_ef * total / admitted), base_ef * 16)
        hnsw_params = faiss.SearchParametersHNSW(efSearch=ef)
        if selector is not None:
            hnsw_params.sel = selector
        params: faiss.SearchParameters | None = hnsw_params
    else:
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
    dist, rows = index.search(q, k, params=params)
    found = rows >= 0
    ids[found] = table.row_ids[rows[found]]
    scores[found] = dist[found]
    return scores, ids


def _search_subset(
    index: faiss.Index, table: IdTable, q: np.ndarray, k: int, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k over the given rows only, reading their vectors back from FAISS in chunks."""
    n = q.shape[0]
    best_s = np.full((n, k), -np.inf, dtype=np.float32)
    best_r = np.full((n, k), -1, dtype=np.int64)
    for start in range(0, rows.size, CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        vecs = vectors_at(index, chunk)
        for qs in range(0, n, _QUERY_CHUNK):
            sl = slice(qs, qs + _QUERY_CHUNK)
            cand_s = np.concatenate([best_s[sl], q[sl] @ vecs.T], axis=1)
            cand_r = np.concatenate([best_r[sl], np.broadcast_to(chunk, (cand_s.shape[0], chunk.size))], axis=1)
            if cand_s.shape[1] > k:
                top = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
                cand_s = np.take_along_axis(cand_s, top, axis=1)
                cand_r = np.take_along_axis(cand_r, top, axis=1)
            order = np.argsort(-cand_s, axis=1, kind="stable")
            best_s[sl] = np.take_along_axis(cand_s, order, axis=1)
            best_r[sl] = np.take_along_axis(cand_r, order, axis=1)
    ids = np.where(best_r >= 0, table.row_ids[np.maximum(best_r, 0)], -1)
    return best_s, ids
