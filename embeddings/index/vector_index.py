"""The vector index: FAISS behind 64-bit ids, with add/upsert/remove, top-k search and atomic save/load.

Layout in memory
    FAISS holds the vectors, and only FAISS: they are never copied into Python. FAISS addresses
    them by *row* (0..rows-1, in insertion order); the index keeps two small int64 tables beside it:
    ``_row_ids`` (row -> id, ``-1`` for a removed row) and a sorted ``_keys``/``_key_rows`` pair
    (id -> row, by binary search). That is 24 bytes per record, far leaner than a Python dict.

Kinds
    ``flat`` (default): exact inner-product search (``IndexFlatIP``). ``remove`` compacts the
    FAISS rows at once (``remove_ids`` keeps row order), so a flat index never holds dead rows.
    ``hnsw``: ``IndexHNSWFlat`` graph search for large stores. FAISS cannot delete from an HNSW
    graph, so a removed or replaced record becomes a *tombstone*: its row's id is set to ``-1`` and
    every search passes FAISS an ``IDSelectorBitmap`` of the live rows, so a removed id or the stale
    vector of an upserted id is never returned. Tombstones still route graph traversal, which keeps
    the graph connected. When they pass ``COMPACT_FRACTION`` of the rows the graph is rebuilt
    from the live vectors (read back from FAISS in chunks, so memory peaks near one extra chunk
    plus the new graph); ``compact()`` does it on demand. Saves keep tombstones as they are, so a
    save of a large graph never triggers a rebuild.

Storage
    ``storage="float16"`` keeps vectors as half floats (``IndexScalarQuantizer``/``IndexHNSWSQ``
    with ``QT_fp16``): half the memory, scores within ~1e-3 of float32. ``storage="int8"`` keeps one byte
    per dimension (``QT_8bit``, per-dimension ranges learnt from the first ``add``, which must hold at least
    ``INT8_MIN_TRAIN`` vectors): a quarter of the memory; at 1M vectors HNSW32 over int8 is the only layout
    measured within 1 GiB at recall@10 >= 0.99 (``python -m benchmarks.bench_search``). A rebuild re-learns
    the ranges from the live vectors. ``float32`` is the default.

Scores and padding
    Scores are inner products, best first (cosine similarity for the encoder's unit vectors).
    When fewer than ``k`` records qualify, the rows are padded with id ``-1`` and score ``-inf``.

Filtered search
    ``search_filtered`` takes the allowed ids as an array or a predicate on ids. A predicate is
    called once per live id (fine for thousands; pass an array for large stores). When few rows
    are allowed (``EXACT_SUBSET_ROWS`` or ``EXACT_SUBSET_FRACTION`` of the rows) the allowed
    vectors are scored exactly, since a graph walk rarely meets them; otherwise FAISS searches
    with an ``IDSelectorBitmap`` (for HNSW with ``efSearch`` widened by the fraction filtered out).

Saved form
    A folder holding ``manifest.json`` (format and autocode version, model, dim, count, kind,
    metric, HNSW parameters, storage, created_at, file sizes), ``index.faiss`` and ``ids.npy``
    (row -> id, tombstones included). ``save`` writes a temporary sibling folder, fsyncs every file
    and the folder, then swaps it into place with one ``renameat2(RENAME_EXCHANGE)`` where Linux
    offers it (elsewhere: two renames, with a moment in which the path is absent), and fsyncs the
    parent. ``load`` opens all three files through one directory handle before reading any, so a
    reader racing a save sees the old index or the new, never a mix.

Threads
    One re-entrant lock guards every method: a web request may search while another writes. FAISS
    itself parallelises a batch of queries.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import faiss
import numpy as np

from autocode.embeddings.durable import autocode_version, fsync_dir, parse_manifest
from autocode.embeddings.durable import swap_folder_into_place as _swap_into_place

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
METRIC = "inner_product"

# HNSW rebuilds its graph once this share of its rows are tombstones.
COMPACT_FRACTION = 0.25
# A filter allowing at most this many rows, or this share of them, is scored exactly over the subset.
EXACT_SUBSET_ROWS = 20_000
EXACT_SUBSET_FRACTION = 0.1
# Rows read back from FAISS at a time (re-scoring subsets, rebuilding graphs): bounds extra memory.
_CHUNK_ROWS = 16_384
_QUERY_CHUNK = 256
_LOAD_ATTEMPTS = 5

IndexKind = Literal["flat", "hnsw"]
Storage = Literal["float32", "float16", "int8"]
STORAGES = ("float32", "float16", "int8")
# int8 learns each dimension's range from the first add: fewer vectors than this give ranges too narrow to trust.
INT8_MIN_TRAIN = 1_000
_INT8_TRAIN_SAMPLE = 100_000
Allowed = Callable[[int], bool] | np.ndarray | Iterable[int]


class IndexMismatchError(ValueError):
    """A saved index was built with another model or dimension than the caller expects."""


class IndexFormatError(ValueError):
    """A saved index folder is incomplete, corrupt, or written in a newer format."""




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
        if kind not in ("flat", "hnsw"):
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
        self._row_ids = np.empty(0, dtype=np.int64)
        self._keys = np.empty(0, dtype=np.int64)
        self._key_rows = np.empty(0, dtype=np.int64)
        self._dead = 0
        self._live_bits: np.ndarray | None = None

    # ----------------------------------------------------------------- basics

    def __len__(self) -> int:
        """Number of live records."""
        return int(self._keys.size)

    def __contains__(self, id: object) -> bool:
        """Whether `id` is a live record."""
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)):
            return False
        try:
            key = np.array([id], dtype=np.int64)
        except OverflowError:
            return False
        with self._lock:
            present, _ = self._lookup(key)
            return bool(present[0])

    def __repr__(self) -> str:
        """Model, dimension, kind and record count, for logs."""
        return f"VectorIndex(model={self.model!r}, dim={self.dim}, kind={self.kind!r}, count={len(self)})"

    def ids(self) -> np.ndarray:
        """The live ids, ascending, as int64."""
        with self._lock:
            return self._keys.copy()

    @property
    def tombstones(self) -> int:
        """Removed rows an HNSW graph still holds (always 0 for flat)."""
        return self._dead

    # ----------------------------------------------------------------- writes

    def add(self, ids: Any, vectors: Any) -> None:
        """Add new records; ValueError if an id is already present or repeated, or a vector is bad."""
        ids_arr = self._check_ids(ids, unique=True)
        vecs = self._check_vectors(vectors, len(ids_arr))
        with self._lock:
            present, _ = self._lookup(ids_arr)
            if present.any():
                dup = ids_arr[present]
                raise ValueError(
                    f"{dup.size} id(s) already in the index, e.g. {_preview(dup)}; use upsert() to replace them"
                )
            self._append(ids_arr, vecs)

    def upsert(self, ids: Any, vectors: Any) -> None:
        """Insert new records and replace the vectors of ids already present."""
        ids_arr = self._check_ids(ids, unique=True)
        vecs = self._check_vectors(vectors, len(ids_arr))
        with self._lock:
            present, rows = self._lookup(ids_arr)
            if present.any():
                self._drop(ids_arr[present], rows[present], compact=False)
            self._append(ids_arr, vecs)
            self._maybe_compact()

    def remove(self, ids: Any) -> int:
        """Remove records by id; returns how many were present. Unknown ids are ignored."""
        ids_arr = np.unique(self._check_ids(ids, unique=False))
        with self._lock:
            present, rows = self._lookup(ids_arr)
            if not present.any():
                return 0
            self._drop(ids_arr[present], rows[present], compact=True)
            return int(present.sum())

    def compact(self) -> None:
        """Rebuild an HNSW graph without its tombstones (a no-op for flat, which never has any)."""
        with self._lock:
            if self._dead:
                self._rebuild()

    # ----------------------------------------------------------------- reads

    def reconstruct(self, ids: Any) -> np.ndarray:
        """The stored vectors of `ids` as float32 [n, dim]; KeyError names ids not in the index."""
        ids_arr = self._check_ids(ids, unique=False)
        with self._lock:
            present, rows = self._lookup(ids_arr)
            if not present.all():
                missing = ids_arr[~present]
                raise KeyError(f"{missing.size} id(s) not in the index, e.g. {_preview(missing)}")
            return self._vectors_at(rows)

    def search(self, queries: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: (scores float32 [n, k], ids int64 [n, k]), padded with -inf / -1."""
        q = self._check_queries(queries)
        k = _check_k(k)
        with self._lock:
            return self._search(q, k, None)

    def search_filtered(self, queries: Any, k: int, allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
        """Like search(), but only over ids in `allowed` (an array/iterable of ids or a predicate on an id)."""
        q = self._check_queries(queries)
        k = _check_k(k)
        with self._lock:
            rows = self._allowed_rows(allowed)
            return self._search(q, k, rows)

    # ----------------------------------------------------------------- save / load

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to folder `path` atomically: readers and crashes see the old or the new whole."""
        path = Path(path).absolute()
        if path.exists():
            if not path.is_dir():
                raise FileExistsError(f"{path} exists and is not a folder; refusing to replace it with an index")
            if not (path / MANIFEST_FILE).is_file() and any(path.iterdir()):
                raise FileExistsError(
                    f"{path} is a non-empty folder without {MANIFEST_FILE}, so not a saved index; "
                    "refusing to replace it"
                )
        parent = path.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"
        with self._lock:
            tmp.mkdir()
            try:
                sizes = {
                    INDEX_FILE: _write_synced(
                        tmp / INDEX_FILE, lambda f: faiss.write_index(self._index, faiss.PyCallbackIOWriter(f.write))
                    ),
                    IDS_FILE: _write_synced(tmp / IDS_FILE, lambda f: np.save(f, self._row_ids, allow_pickle=False)),
                }
                manifest = self._manifest(sizes)
                _write_synced(tmp / MANIFEST_FILE, lambda f: f.write(json.dumps(manifest, indent=2).encode() + b"\n"))
                fsync_dir(tmp)
                _swap_into_place(tmp, path)
                fsync_dir(parent)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self.manifest_ = manifest

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, expect_model: str | None = None, expect_dim: int | None = None
    ) -> VectorIndex:
        """Read a saved index folder; IndexMismatchError if it was built with another model or dim."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no saved index at {path}")
        if not path.is_dir():
            raise IndexFormatError(f"{path} is not a folder; a saved index is a folder holding {MANIFEST_FILE}")
        # A save racing this load may swap the folder and delete the old one between our opening it
        # and opening its files; opening all of them again then finds the new one, whole.
        for attempt in range(_LOAD_ATTEMPTS):
            try:
                with _open_members(path) as (manifest_file, index_file, ids_file):
                    manifest = _parse_manifest(path, manifest_file.read())
                    _check_expected(path, manifest, expect_model, expect_dim)
                    if index_file is None or ids_file is None:
                        missing = INDEX_FILE if index_file is None else IDS_FILE
                        raise FileNotFoundError(missing)
                    return cls._from_files(path, manifest, index_file, ids_file)
            except FileNotFoundError as exc:
                if attempt < _LOAD_ATTEMPTS - 1:
                    time.sleep(0.005 * attempt)
                    continue
                raise IndexFormatError(
                    f"{path} is incomplete: {exc.filename or exc.args[0]} is missing; "
                    "re-build the index or restore it from a copy"
                ) from None
        raise AssertionError("unreachable")

    @classmethod
    def _from_files(
        cls, path: Path, manifest: dict[str, Any], index_file: IO[bytes], ids_file: IO[bytes]
    ) -> VectorIndex:
        for name, f in ((INDEX_FILE, index_file), (IDS_FILE, ids_file)):
            actual = os.fstat(f.fileno()).st_size
            if actual != manifest["files"][name]:
                raise IndexFormatError(
                    f"{path / name} is {actual} bytes but the manifest says {manifest['files'][name]}: "
                    "the folder is corrupt; re-build the index"
                )
        hnsw = manifest["hnsw"]
        obj = cls(
            manifest["model"],
            manifest["dim"],
            manifest["kind"],
            hnsw_m=hnsw["m"],
            ef_construction=hnsw["ef_construction"],
            ef_search=hnsw["ef_search"],
            storage=manifest["storage"],
        )
        try:
            index = faiss.read_index(faiss.PyCallbackIOReader(index_file.read))
        except Exception as exc:  # FAISS raises RuntimeError with its C++ message
            raise IndexFormatError(f"{path / INDEX_FILE} cannot be read by FAISS: {exc}") from None
        try:
            row_ids = np.load(ids_file, allow_pickle=False)
        except Exception as exc:
            raise IndexFormatError(f"{path / IDS_FILE} cannot be read: {exc}") from None
        expected_type = {"flat": (faiss.IndexFlat, faiss.IndexScalarQuantizer), "hnsw": (faiss.IndexHNSW,)}
        problems = []
        if not isinstance(index, expected_type[obj.kind]):
            problems.append(f"FAISS index is {type(index).__name__}, manifest says kind {obj.kind!r}")
        if index.d != obj.dim:
            problems.append(f"FAISS index has dimension {index.d}, manifest says {obj.dim}")
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            problems.append("FAISS index does not use inner product")
        if row_ids.dtype != np.int64 or row_ids.ndim != 1 or row_ids.size != index.ntotal:
            problems.append(f"{IDS_FILE} holds {row_ids.shape} {row_ids.dtype}, expected {index.ntotal} int64 ids")
        if problems:
            raise IndexFormatError(f"{path} is inconsistent: " + "; ".join(problems))
        live_rows = np.flatnonzero(row_ids >= 0)
        order = np.argsort(row_ids[live_rows], kind="stable")
        keys = row_ids[live_rows][order]
        if keys.size > 1 and np.any(keys[1:] == keys[:-1]):
            raise IndexFormatError(f"{path / IDS_FILE} repeats an id: the folder is corrupt")
        if keys.size != manifest["count"]:
            raise IndexFormatError(f"{path} holds {keys.size} records but its manifest says {manifest['count']}")
        if obj.kind == "flat" and live_rows.size != row_ids.size:
            raise IndexFormatError(f"{path / IDS_FILE} has removed rows, which a flat index never keeps")
        obj._index = index
        obj._row_ids = row_ids
        obj._keys = keys
        obj._key_rows = live_rows[order].astype(np.int64)
        obj._dead = int(row_ids.size - live_rows.size)
        obj.manifest_ = manifest
        return obj

    def _manifest(self, sizes: dict[str, int]) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "autocode_version": autocode_version(),
            "model": self.model,
            "dim": self.dim,
            "count": len(self),
            "rows": int(self._row_ids.size),
            "kind": self.kind,
            "metric": METRIC,
            "storage": self.storage,
            "hnsw": {"m": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search},
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": sizes,
        }

    # ----------------------------------------------------------------- internals

    def _new_faiss_index(self) -> faiss.Index:
        ip = faiss.METRIC_INNER_PRODUCT
        quantiser = {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}.get(self.storage)
        if self.kind == "flat":
            if quantiser is None:
                return faiss.IndexFlatIP(self.dim)
            return faiss.IndexScalarQuantizer(self.dim, quantiser, ip)
        if quantiser is None:
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, ip)
        else:
            index = faiss.IndexHNSWSQ(self.dim, quantiser, self.hnsw_m, ip)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return index

    def _train(self, index: faiss.Index, vecs: np.ndarray) -> None:
        """Learn int8 ranges from `vecs` (a seeded sample when large); other storages need no training."""
        if index.is_trained:
            return
        if len(vecs) < INT8_MIN_TRAIN:
            raise ValueError(
                f"int8 storage learns each dimension's range from the first add, which must hold at least "
                f"{INT8_MIN_TRAIN:,} vectors (got {len(vecs):,}); add a larger first batch or use storage='float16'"
            )
        if len(vecs) > _INT8_TRAIN_SAMPLE:
            rows = np.sort(np.random.default_rng(0).choice(len(vecs), _INT8_TRAIN_SAMPLE, replace=False))
            vecs = vecs[rows]
        index.train(np.ascontiguousarray(vecs))

    def _lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(present mask, rows with -1 where absent) for int64 `ids`."""
        if self._keys.size == 0 or ids.size == 0:
            return np.zeros(ids.shape, dtype=bool), np.full(ids.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._keys, ids), self._keys.size - 1)
        present = self._keys[pos] == ids
        return present, np.where(present, self._key_rows[pos], -1)

    def _append(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if ids.size == 0:
            return
        start = int(self._row_ids.size)
        self._train(self._index, vecs)
        self._index.add(vecs)
        rows = np.arange(start, start + ids.size, dtype=np.int64)
        self._row_ids = np.concatenate([self._row_ids, ids])
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        pos = np.searchsorted(self._keys, sorted_ids)
        self._keys = np.insert(self._keys, pos, sorted_ids)
        self._key_rows = np.insert(self._key_rows, pos, rows[order])
        self._live_bits = None

    def _drop(self, ids: np.ndarray, rows: np.ndarray, *, compact: bool) -> None:
        """Forget present `ids` stored at `rows`: compact flat rows, tombstone HNSW rows."""
        keep = np.ones(self._keys.size, dtype=bool)
        keep[np.searchsorted(self._keys, ids)] = False
        self._keys = self._keys[keep]
        self._key_rows = self._key_rows[keep]
        self._live_bits = None
        if self.kind == "flat":
            removed = self._index.remove_ids(faiss.IDSelectorBatch(rows))
            if removed != rows.size:
                raise RuntimeError(f"FAISS removed {removed} rows, expected {rows.size}")
            self._row_ids = np.delete(self._row_ids, rows)
            # remove_ids keeps the survivors' order, so each row moves down by the removed rows before it.
            self._key_rows = self._key_rows - np.searchsorted(np.sort(rows), self._key_rows)
            return
        self._row_ids[rows] = -1
        self._dead += int(rows.size)
        if compact:
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        if self._dead and self._dead > COMPACT_FRACTION * self._row_ids.size:
            self._rebuild()

    def _rebuild(self) -> None:
        live_rows = np.flatnonzero(self._row_ids >= 0)
        new = self._new_faiss_index()
        if not new.is_trained and live_rows.size:
            sample = np.sort(np.random.default_rng(0).choice(live_rows, min(live_rows.size, _INT8_TRAIN_SAMPLE), replace=False))
            new.train(self._vectors_at(sample))  # the live vectors' ranges; a store emptied to few rows keeps them
        for start in range(0, live_rows.size, _CHUNK_ROWS):
            new.add(self._vectors_at(live_rows[start : start + _CHUNK_ROWS]))
        self._index = new
        self._row_ids = self._row_ids[live_rows]
        self._key_rows = np.searchsorted(live_rows, self._key_rows).astype(np.int64)
        self._dead = 0
        self._live_bits = None

    def _vectors_at(self, rows: np.ndarray) -> np.ndarray:
        if rows.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(self._index.reconstruct_batch(np.ascontiguousarray(rows, dtype=np.int64)))

    def _live_bitmap(self) -> np.ndarray:
        if self._live_bits is None:
            self._live_bits = np.packbits(self._row_ids >= 0, bitorder="little")
        return self._live_bits

    def _allowed_rows(self, allowed: Allowed) -> np.ndarray:
        """Sorted rows of the live records that `allowed` admits."""
        if callable(allowed):
            keep = np.fromiter((bool(allowed(int(i))) for i in self._keys), dtype=bool, count=self._keys.size)
            return np.sort(self._key_rows[keep])
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
        present, rows = self._lookup(arr)
        return np.sort(rows[present])

    def _search(self, q: np.ndarray, k: int, allowed_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        n = q.shape[0]
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        ids = np.full((n, k), -1, dtype=np.int64)
        total = int(self._row_ids.size)
        if n == 0 or len(self) == 0 or (allowed_rows is not None and allowed_rows.size == 0):
            return scores, ids
        bits: np.ndarray | None = None
        if allowed_rows is None:
            admitted = len(self)
            if self._dead:
                bits = self._live_bitmap()
        else:
            admitted = int(allowed_rows.size)
            if admitted <= max(EXACT_SUBSET_ROWS, EXACT_SUBSET_FRACTION * total):
                return self._search_subset(q, k, allowed_rows)
            mask = np.zeros(total, dtype=bool)
            mask[allowed_rows] = True
            bits = np.packbits(mask, bitorder="little")
        # `bits` must outlive the search: the selector only points at its buffer.
        selector = faiss.IDSelectorBitmap(total, faiss.swig_ptr(bits)) if bits is not None else None
        if self.kind == "hnsw":
            # A graph walk must hold at least k candidates, and more when the selector rejects many rows.
            base_ef = max(self.ef_search, k)
            ef = min(math.ceil(base_ef * total / admitted), base_ef * 16)
            params: faiss.SearchParameters | None = faiss.SearchParametersHNSW(efSearch=ef)
            if selector is not None:
                params.sel = selector
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        dist, rows = self._index.search(q, k, params=params)
        found = rows >= 0
        ids[found] = self._row_ids[rows[found]]
        scores[found] = dist[found]
        return scores, ids

    def _search_subset(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the given rows only, reading their vectors back from FAISS in chunks."""
        n = q.shape[0]
        best_s = np.full((n, k), -np.inf, dtype=np.float32)
        best_r = np.full((n, k), -1, dtype=np.int64)
        for start in range(0, rows.size, _CHUNK_ROWS):
            chunk = rows[start : start + _CHUNK_ROWS]
            vecs = self._vectors_at(chunk)
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
        ids = np.where(best_r >= 0, self._row_ids[np.maximum(best_r, 0)], -1)
        return best_s, ids

    def _check_ids(self, ids: Any, *, unique: bool) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"ids must be one-dimensional, got shape {arr.shape}")
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"ids must be integers, got dtype {arr.dtype}")
        if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
            raise ValueError("ids must fit in a signed 64-bit integer")
        arr = arr.astype(np.int64)
        # -1 means "no result" in search output, so ids are kept non-negative to stay unambiguous.
        if arr.min() < 0:
            raise ValueError(f"ids must be non-negative, got {_preview(arr[arr < 0])}")
        if unique:
            uniq, counts = np.unique(arr, return_counts=True)
            if uniq.size != arr.size:
                raise ValueError(f"ids repeat within one call, e.g. {_preview(uniq[counts > 1])}")
        return arr

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
            raise ValueError(f"vectors hold NaN or infinite values, e.g. at row(s) {_preview(np.flatnonzero(bad))}")
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


# --------------------------------------------------------------------- module helpers


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _preview(values: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return f"[{shown}{', ...' if values.size > limit else ''}]"


def _parse_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    """The validated manifest, or IndexFormatError saying what is wrong with it."""
    manifest = parse_manifest(raw, path / MANIFEST_FILE, kind="index", max_version=FORMAT_VERSION, error=IndexFormatError)
    fields: dict[str, type | tuple[type, ...]] = {
        "model": str, "dim": int, "count": int, "kind": str, "metric": str, "hnsw": dict, "files": dict,
    }
    for name, typ in fields.items():
        if not isinstance(manifest.get(name), typ) or isinstance(manifest.get(name), bool):
            raise IndexFormatError(f"{path / MANIFEST_FILE}: field {name!r} is missing or not a {typ.__name__}")
    manifest.setdefault("storage", "float32")
    problems = []
    if manifest["kind"] not in ("flat", "hnsw"):
        problems.append(f"unknown kind {manifest['kind']!r}")
    if manifest["metric"] != METRIC:
        problems.append(f"metric {manifest['metric']!r}, expected {METRIC!r}")
    if manifest["storage"] not in STORAGES:
        problems.append(f"unknown storage {manifest['storage']!r}")
    if not all(isinstance(manifest["hnsw"].get(key), int) for key in ("m", "ef_construction", "ef_search")):
        problems.append("hnsw must hold integers m, ef_construction, ef_search")
    if not all(isinstance(manifest["files"].get(name), int) for name in (INDEX_FILE, IDS_FILE)):
        problems.append(f"files must give the byte sizes of {INDEX_FILE} and {IDS_FILE}")
    if problems:
        raise IndexFormatError(f"{path / MANIFEST_FILE}: " + "; ".join(problems))
    return manifest


def _check_expected(path: Path, manifest: dict[str, Any], model: str | None, dim: int | None) -> None:
    wrong_model = model is not None and manifest["model"] != model
    wrong_dim = dim is not None and manifest["dim"] != dim
    if not (wrong_model or wrong_dim):
        return
    parts = []
    if model is not None:
        parts.append(f"model {model!r}")
    if dim is not None:
        parts.append(f"dim {dim}")
    expected = ", ".join(parts)
    raise IndexMismatchError(
        f"index at {path} was built with model {manifest['model']!r} (dim {manifest['dim']}), "
        f"but {expected} was expected: re-build the index with the current encoder"
    )


@contextlib.contextmanager
def _open_members(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes] | None, IO[bytes] | None]]:
    """Open manifest, index and ids through one handle on the folder, so all come from the same save."""
    use_dir_fd = os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")
    dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY) if use_dir_fd else None
    files: list[IO[bytes] | None] = []
    try:
        for name in (MANIFEST_FILE, INDEX_FILE, IDS_FILE):
            try:
                if dir_fd is not None:
                    files.append(os.fdopen(os.open(name, os.O_RDONLY, dir_fd=dir_fd), "rb"))
                else:
                    files.append(open(path / name, "rb"))  # noqa: SIM115 - closed in finally
            except FileNotFoundError:
                if name == MANIFEST_FILE:
                    raise FileNotFoundError(MANIFEST_FILE) from None
                # Reported after the manifest is checked, so a version or model mismatch is named first.
                files.append(None)
        manifest_file = files[0]
        assert manifest_file is not None
        yield manifest_file, files[1], files[2]
    finally:
        for f in files:
            if f is not None:
                f.close()
        if dir_fd is not None:
            os.close(dir_fd)


def _write_synced(path: Path, write: Callable[[IO[bytes]], object]) -> int:
    """Write a file with `write`, flush it to disk, and return its size in bytes."""
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()




