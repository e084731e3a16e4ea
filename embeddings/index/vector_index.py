"""VectorIndex: vectors under caller-chosen 64-bit ids in FAISS, with add/upsert/remove, top-k search and save/load.

FAISS holds the vectors, and only FAISS: they are never copied into Python. Each job has its module:
``ids`` (the id <-> row table), ``factory`` (the FAISS index for a kind and storage), ``search``
(top-k, filtered or not) and ``persistence`` (the saved folder). This class ties them together.

Removing records
    A ``flat`` index compacts its FAISS rows at once (``remove_ids`` keeps row order), so it never
    holds dead rows. FAISS cannot delete from an HNSW graph, so there a removed or replaced record
    becomes a *tombstone*: its row's id is set to ``-1`` and searches skip it. Tombstones still route
    graph traversal, which keeps the graph connected. When they pass ``COMPACT_FRACTION`` of the rows
    the graph is rebuilt from the live vectors (read back from FAISS in chunks, so memory peaks near
    one extra chunk plus the new graph); ``compact()`` does it on demand. Saves keep tombstones as they
    are, so a save of a large graph never triggers a rebuild.

Threads
    One re-entrant lock guards every method: a web request may search while another writes. FAISS
    itself parallelises a batch of queries.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import faiss
import numpy as np

from autocode.embeddings.index import persistence
from autocode.embeddings.index.factory import KINDS, STORAGES, IndexKind, Storage, new_faiss_index, rebuilt, train, vectors_at
from autocode.embeddings.index.ids import IdTable, check_ids, preview
from autocode.embeddings.index.search import Allowed, allowed_rows, check_k, search

# HNSW rebuilds its graph once this share of its rows are tombstones.
COMPACT_FRACTION = 0.25


class VectorIndex:
    """Vectors under caller-chosen int64 ids, searched by inner product; see the module docstring."""

    def __init__(
        self,
        model: str,
        dim: int,
        kind: IndexKind = "flat",
        *,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 64,
        storage: Storage = "float32",
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a non-empty string naming the encoder that made the vectors")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be 'flat' or 'hnsw', got {kind!r}")
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        for name, value in (("hnsw_m", hnsw_m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.model = model
        self.dim = int(dim)
        self.kind: str = kind
        self.storage: str = storage
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)  # read at each search, so it may be tuned after load
        self.manifest_: dict[str, Any] | None = None  # the manifest last saved or loaded
        self._lock = threading.RLock()
        self._index = self._new_faiss_index()
        self._ids = IdTable()

    # ----------------------------------------------------------------- basics

    def __len__(self) -> int:
        """Number of live records."""
        return len(self._ids)

    def __contains__(self, id: object) -> bool:
        """Whether `id` is a live record."""
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)):
            return False
        try:
            key = np.array([id], dtype=np.int64)
        except OverflowError:
            return False
        with self._lock:
            present, _ = self._ids.lookup(key)
            return bool(present[0])

    def __repr__(self) -> str:
        """Model, dimension, kind and record count, for logs."""
        return f"VectorIndex(model={self.model!r}, dim={self.dim}, kind={self.kind!r}, count={len(self)})"

    def ids(self) -> np.ndarray:
        """The live ids, ascending, as int64."""
        with self._lock:
            return self._ids.keys.copy()

    @property
    def tombstones(self) -> int:
        """Removed rows an HNSW graph still holds (always 0 for flat)."""
        return self._ids.dead

    # ----------------------------------------------------------------- writes

    def add(self, ids: Any, vectors: Any) -> None:
        """Add new records; ValueError if an id is already present or repeated, or a vector is bad."""
        ids_arr = check_ids(ids, unique=True)
        vecs = self._check_vectors(vectors, len(ids_arr))
        with self._lock:
            present, _ = self._ids.lookup(ids_arr)
            if present.any():
                dup = ids_arr[present]
                raise ValueError(
                    f"{dup.size} id(s) already in the index, e.g. {preview(dup)}; use upsert() to replace them"
                )
            self._append(ids_arr, vecs)

    def upsert(self, ids: Any, vectors: Any) -> None:
        """Insert new records and replace the vectors of ids already present."""
        ids_arr = check_ids(ids, unique=True)
        vecs = self._check_vectors(vectors, len(ids_arr))
        with self._lock:
            present, rows = self._ids.lookup(ids_arr)
            if present.any():
                self._drop(ids_arr[present], rows[present], compact=False)
            self._append(ids_arr, vecs)
            self._maybe_compact()

    def remove(self, ids: Any) -> int:
        """Remove records by id; returns how many were present. Unknown ids are ignored."""
        ids_arr = np.unique(check_ids(ids, unique=False))
        with self._lock:
            present, rows = self._ids.lookup(ids_arr)
            if not present.any():
                return 0
            self._drop(ids_arr[present], rows[present], compact=True)
            return int(present.sum())

    def compact(self) -> None:
        """Rebuild an HNSW graph without its tombstones (a no-op for flat, which never has any)."""
        with self._lock:
            if self._ids.dead:
                self._rebuild()

    # ----------------------------------------------------------------- reads

    def reconstruct(self, ids: Any) -> np.ndarray:
        """The stored vectors of `ids` as float32 [n, dim]; KeyError names ids not in the index."""
        ids_arr = check_ids(ids, unique=False)
        with self._lock:
            present, rows = self._ids.lookup(ids_arr)
            if not present.all():
                missing = ids_arr[~present]
                raise KeyError(f"{missing.size} id(s) not in the index, e.g. {preview(missing)}")
            return vectors_at(self._index, rows)

    def search(self, queries: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: (scores float32 [n, k], ids int64 [n, k]), padded with -inf / -1."""
        q = self._check_queries(queries)
        k = check_k(k)
        with self._lock:
            return self._search(q, k, None)

    def search_filtered(self, queries: Any, k: int, allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
        """Like search(), but only over ids in `allowed` (an array/iterable of ids or a predicate on an id)."""
        q = self._check_queries(queries)
        k = check_k(k)
        with self._lock:
            rows = allowed_rows(self._ids, allowed)
            return self._search(q, k, rows)

    # ----------------------------------------------------------------- save / load

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to folder `path` atomically: readers and crashes see the old or the new whole."""
        persistence.save(self, path)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, expect_model: str | None = None, expect_dim: int | None = None
    ) -> VectorIndex:
        """Read a saved index folder; IndexMismatchError if it was built with another model or dim."""
        return persistence.load(cls, path, expect_model=expect_model, expect_dim=expect_dim)

    # ----------------------------------------------------------------- internals

    def _new_faiss_index(self) -> faiss.Index:
        return new_faiss_index(
            self.kind, self.dim, self.storage,
            hnsw_m=self.hnsw_m, ef_construction=self.ef_construction, ef_search=self.ef_search,
        )

    def _append(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if ids.size == 0:
            return
        train(self._index, vecs)
        self._index.add(vecs)
        self._ids.append(ids)

    def _drop(self, ids: np.ndarray, rows: np.ndarray, *, compact: bool) -> None:
        """Forget present `ids` stored at `rows`: compact flat rows, tombstone HNSW rows."""
        self._ids.forget(ids)
        if self.kind == "flat":
            removed = self._index.remove_ids(faiss.IDSelectorBatch(rows))
            if removed != rows.size:
                raise RuntimeError(f"FAISS removed {removed} rows, expected {rows.size}")
            self._ids.delete_rows(rows)
            return
        self._ids.tombstone(rows)
        if compact:
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        if self._ids.dead and self._ids.dead > COMPACT_FRACTION * self._ids.rows:
            self._rebuild()

    def _rebuild(self) -> None:
        live_rows = self._ids.live_rows()
        self._index = rebuilt(self._index, self._new_faiss_index(), live_rows)
        self._ids.keep_rows(live_rows)

    def _search(self, q: np.ndarray, k: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        return search(self._index, self._ids, q, k, rows, ef_search=self.ef_search if self.kind == "hnsw" else None)

    def _check_vectors(self, vectors: Any, n: int) -> np.ndarray:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim == 1 and n == 1 and arr.size == self.dim:
            arr = arr.reshape(1, -1)
        if n == 0 and arr.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        if arr.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array [n, {self.dim}], got shape {arr.shape}")
        if arr.shape[1] != self.dim:
            raise ValueError(
                f"vectors have dimension {arr.shape[1]} but the index holds dimension {self.dim} "
                f"(model {self.model!r})"
            )
        if arr.shape[0] != n:
            raise ValueError(f"{n} ids but {arr.shape[0]} vectors")
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise ValueError(f"vectors hold NaN or infinite values, e.g. at row(s) {preview(np.flatnonzero(bad))}")
        return np.ascontiguousarray(arr)

    def _check_queries(self, queries: Any) -> np.ndarray:
        arr = np.asarray(queries, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise ValueError(f"queries must be a 2-D array [n, {self.dim}], got shape {arr.shape}")
        if arr.shape[1] != self.dim:
            raise ValueError(
                f"queries have dimension {arr.shape[1]} but the index holds dimension {self.dim} "
                f"(model {self.model!r})"
            )
        if not np.isfinite(arr).all():
            raise ValueError("queries hold NaN or infinite values")
        return np.ascontiguousarray(arr)
