"""RecordRegister: a large set of records (a national business register, ~1M rows) held column-wise for the resolver.

The resolver's own tables keep one Python dict, one RecordKeys and several set entries per record: about 4 KB a
record, so a million records would not fit in 2 GB beside the gazetteer. A register keeps instead
    - every column as int32 codes into its distinct values (names and match keys as one UTF-8 buffer + offsets);
    - exact keys (name, name without legal form, aliases; initials as an ambiguous key) as sorted 64-bit hashes;
    - token blocks for fuzzy lookups: the rows sharing a query's rarest words, whose keys alone rapidfuzz scores
      (a ratio over a million keys per query would take ~0.3 s);
    - one vector per record (its name without legal form) in a compact FAISS index, ``INDEX_SPEC`` (IVF-PQ, 64 bytes
      a vector; why, with the figures of ``python -m benchmarks.register --probe``, at its definition).
The resolver asks it by record id (``row``, ``keys``), by key (``holders``), by fuzzy key (``fuzzy``) and by vector
(``search``); records and keys are rebuilt on demand from the columns. A register is read-only: the engine
builds a new one when the store's records change (vectors of unchanged names are reused, not encoded again).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from rapidfuzz import fuzz, process

from autocode.classifiers.employers.gazetteer import COLUMNS, LIST_COLUMNS
from autocode.classifiers.employers.match import _GENERIC_TAIL, RecordKeys
from autocode.classifiers.employers.names import acronym, match_key, strip_legal_form

__all__ = ["INDEX_SPEC", "REGISTER_FORMAT", "Fallback", "RecordRegister", "faiss_spec", "key_hash"]

REGISTER_FORMAT = 1
# Chosen for memory (`python -m benchmarks.register --probe --records 30000`, recall@20 of exact float32 over 500
# informal queries): HNSW32,SQ8 0.972 at efSearch 128 (656 B a vector), IVF,SQ8 0.895 at nprobe 24 (399 B), exact SQ8
# 0.994 (384 B, but a full scan: ~50 ms at 1M), IVF,PQ64 0.70 (top-1 0.946; 92 B). Only PQ keeps 1M records beside
# the gazetteer near 2 GB (peak 2,089 MiB with it); the right record is mostly found by exact and token-blocked fuzzy
# keys, the vectors adding typo'd names and the sector votes (right record 0.958 at 1M, README).
INDEX_SPEC = "ivf-pq"
TRAIN_ROWS = 30_000  # vectors the IVF coarse quantiser and PQ learn from (the first rows, in id order)
PQ_NITER = 10  # k-means rounds of each PQ sub-quantiser: 25 (FAISS's default) took minutes here for no gain in recall
NPROBE = 24
BLOCK_ROWS = 400  # fuzzy: at most this many rows, those sharing the query's rarest words, are scored
_CACHE = 8192  # RecordKeys and rows rebuilt recently (one answer asks for the same candidate several times)
_TEXT = [c for c in COLUMNS if c not in ("record_id", "name")]


def key_hash(key: str) -> int:
    """A key's stable 63-bit hash (the same in every process, unlike hash())."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") >> 1


def faiss_spec(spec: str, n: int) -> str:
    """The FAISS factory string of an index spec for `n` vectors."""
    # ~sqrt(n) lists (1,024 at 1M), and at least 40 vectors a list for the coarse k-means to learn from.
    nlist = 1 << max(4, min(round(math.log2(math.sqrt(max(n, 1)))), int(math.log2(max(n // 40, 16)))))
    return {"flat": "Flat", "sq8": "SQ8", "hnsw-sq8": "HNSW32,SQ8", "ivf-sq8": f"IVF{nlist},SQ8",
            "ivf-pq": f"IVF{nlist},PQ64", "ivf-pq96": f"IVF{nlist},PQ96"}[spec]


def name_keys(name: str, core_key: str, aliases: Sequence[str]) -> list[str]:
    """A register record's exact keys: its name, the name without legal form and generic tail words, its aliases.

    The tail words are dropped as parse_query drops them from an answer ("Horizon Hldgs" looks up "horizon"); the
    gazetteer's name_variants does more, at ~0.1 ms a name, which a million records cannot afford.
    """
    keys = [match_key(name), core_key]
    words = core_key.split()
    while len(words) > 1 and words[-1] in _GENERIC_TAIL:
        words = words[:-1]
        keys.append(" ".join(words))
    keys.extend(match_key(a) for a in aliases)
    return [k for k in keys if k]


class Fallback(dict[Any, Any]):
    """A dict that answers keys it lacks from `lookup` (the register): iteration and len cover its own items only."""

    def __init__(self, data: Mapping[Any, Any], lookup: Callable[[Any], Any]) -> None:
        super().__init__(data)
        self.lookup = lookup

    def __missing__(self, key: Any) -> Any:
        value = self.lookup(key)
        if value is None:
            raise KeyError(key)
        return value


class _Strings:
    """Many strings in one UTF-8 buffer: ~1/3 of the memory of a list of str."""

    def __init__(self, data: bytes, offsets: np.ndarray) -> None:
        self.data, self.offsets = data, offsets

    @classmethod
    def of(cls, texts: list[str]) -> _Strings:
        encoded = [t.encode() for t in texts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    def __getitem__(self, i: int) -> str:
        return self.data[self.offsets[i] : self.offsets[i + 1]].decode()

    def __len__(self) -> int:
        return len(self.offsets) - 1


class _Builder:
    """Accumulates rows, keys and tokens chunk by chunk; `finish` turns them into arrays."""

    def __init__(self) -> None:
        # Typed arrays, not lists: a list of a million ints holds a million int objects (~36 B each, not 4-8).
        self.ids = array("q")
        self.names: list[str] = []
        self.cores: list[str] = []
        self.codes: dict[str, array[int]] = {c: array("i") for c in _TEXT}
        self.values: dict[str, dict[Any, int]] = {c: {} for c in _TEXT}
        self.key_hash = array("Q")
        self.key_row = array("i")
        self.key_amb = array("b")
        self.vocab: dict[str, int] = {}
        self.tok_id = array("i")
        self.tok_row = array("i")
        self.vids = array("q")

    def add(self, row: Mapping[str, Any]) -> str:
        """Add one record; returns the text its vector encodes (the name without legal form)."""
        i = len(self.ids)
        name = str(row["name"])
        self.ids.append(int(row["record_id"]))
        self.names.append(name)
        for column in _TEXT:
            value = row.get(column)
            value = tuple(value or ()) if column in LIST_COLUMNS else ("" if value is None else str(value))
            self.codes[column].append(self.values[column].setdefault(value, len(self.values[column])))
        core = strip_legal_form(name)[0] or name
        core_key = match_key(core)
        self.cores.append(core_key)
        keys = dict.fromkeys(name_keys(name, core_key, row.get("aliases") or ()))
        for key in keys:
            self.key_hash.append(key_hash(key))
            self.key_row.append(i)
            self.key_amb.append(False)
        acro = acronym(name)
        if acro and acro.casefold() not in keys:
            self.key_hash.append(key_hash(acro.casefold()))
            self.key_row.append(i)
            self.key_amb.append(True)
        for token in dict.fromkeys(core_key.split()):
            self.tok_id.append(self.vocab.setdefault(token, len(self.vocab)))
            self.tok_row.append(i)
        return core


def _train(index: faiss.Index, vectors: np.ndarray) -> None:
    """Train `index` on `vectors`; PQ sub-quantisers on one thread (two threads fight over tiny 6-d k-means here)."""
    ivf = faiss.try_extract_index_ivf(index)
    pq = getattr(faiss.downcast_index(ivf), "pq", None) if ivf is not None else None
    if pq is None:
        index.train(vectors)
        return
    pq.cp.niter = PQ_NITER
    # index_factory turns on polysemous training (a Hamming-distance code order we never search by): minutes wasted.
    faiss.downcast_index(ivf).do_polysemous_training = False
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.train(vectors)
    finally:
        faiss.omp_set_num_threads(threads)


class RecordRegister:
    """Records held column-wise with exact keys, token blocks and a compact vector index; see the module docstring."""

    def __init__(self, arrays: dict[str, Any], index: faiss.Index, meta: dict[str, Any]) -> None:
        self.record_id: np.ndarray = arrays["record_id"]
        self.order: np.ndarray = np.argsort(self.record_id, kind="stable")
        self.sorted_ids: np.ndarray = self.record_id[self.order]
        self.names: _Strings = arrays["names"]
        self.cores: _Strings = arrays["cores"]
        self.codes: dict[str, np.ndarray] = arrays["codes"]
        self.values: dict[str, list[Any]] = arrays["values"]
        self.key_hash: np.ndarray = arrays["key_hash"]
        self.key_row: np.ndarray = arrays["key_row"]
        self.key_amb: np.ndarray = arrays["key_amb"]
        self.vocab: list[str] = arrays["vocab"]
        self.tok_ptr: np.ndarray = arrays["tok_ptr"]
        self.tok_rows: np.ndarray = arrays["tok_rows"]
        self.vector_ids: np.ndarray = arrays["vector_ids"]  # records.vector_id of (record_id, encoded text)
        self.index = index
        self.meta = meta
        self.token_of = {t: i for i, t in enumerate(self.vocab)}
        self._keys: OrderedDict[int, RecordKeys] = OrderedDict()
        self.set_search(nprobe=NPROBE)

    # ------------------------------------------------------------------ build, save, load

    @classmethod
    def build(cls, rows: Iterable[Mapping[str, Any]], encode: Callable[[list[str]], np.ndarray], dim: int, *,
              total: int, spec: str = INDEX_SPEC, chunk: int = 20_000, meta: Mapping[str, Any] | None = None,
              reuse: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
              progress: Callable[[int], None] | None = None) -> RecordRegister:
        """Build from rows (dicts with the gazetteer's columns), `total` of them, encoding a chunk at a time.

        `reuse(vector_ids)` may return (found mask, their vectors) from an older register: those are not encoded.
        """
        from autocode.classifiers.employers.records import vector_id

        b = _Builder()
        index = faiss.index_factory(dim, faiss_spec(spec, total), faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.set_direct_map_type(faiss.DirectMap.Array)  # reconstruct(row): a candidate's vector for its score
        pending: list[np.ndarray] = []  # vectors held until the index has learnt from TRAIN_ROWS of them
        held = 0
        vids = b.vids
        texts: list[str] = []

        def flush() -> None:
            nonlocal held
            if not texts:
                return
            ids = np.asarray(vids[-len(texts):], dtype=np.int64)
            vectors = np.empty((len(texts), dim), dtype=np.float32)
            todo = np.ones(len(texts), dtype=bool)
            if reuse is not None:
                found, old = reuse(ids)
                vectors[found], todo = old, ~found
            if todo.any():
                vectors[todo] = encode([t for t, t_ok in zip(texts, todo, strict=True) if t_ok])
            texts.clear()
            if index.is_trained:
                index.add(vectors)
                return
            pending.append(vectors)
            held += len(vectors)
            if held >= min(TRAIN_ROWS, total):
                train = np.concatenate(pending)
                pending.clear()
                _train(index, train[:TRAIN_ROWS])
                index.add(train)
                held = 0

        for row in rows:
            core = b.add(row)
            vids.append(vector_id(b.ids[-1], core))
            texts.append(core)
            if len(texts) >= chunk:
                flush()
                if progress is not None:
                    progress(len(b.ids))
        flush()
        if pending:  # fewer rows than promised: learn from what there is
            train = np.concatenate(pending)
            if not index.is_trained:
                _train(index, train)
            index.add(train)
        if progress is not None:
            progress(len(b.ids))
        return cls(cls._arrays(b), index, {**(meta or {}), "spec": spec, "factory": faiss_spec(spec, total),
                                                  "rows": len(b.ids), "format": REGISTER_FORMAT})

    @staticmethod
    def _arrays(b: _Builder) -> dict[str, Any]:
        keys = np.asarray(b.key_hash, dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        tok = np.asarray(b.tok_id, dtype=np.int32)
        tok_order = np.argsort(tok, kind="stable")
        tok_ptr = np.zeros(len(b.vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(tok, minlength=len(b.vocab)), out=tok_ptr[1:])
        return {
            "record_id": np.asarray(b.ids, dtype=np.int64), "names": _Strings.of(b.names), "cores": _Strings.of(b.cores),
            "codes": {c: np.asarray(v, dtype=np.int32) for c, v in b.codes.items()},
            "values": {c: list(v) for c, v in b.values.items()},
            "key_hash": keys[order], "key_row": np.asarray(b.key_row, dtype=np.int32)[order],
            "key_amb": np.asarray(b.key_amb, dtype=bool)[order], "vocab": list(b.vocab),
            "tok_ptr": tok_ptr, "tok_rows": np.asarray(b.tok_row, dtype=np.int32)[tok_order],
            "vector_ids": np.asarray(b.vids, dtype=np.int64),
        }

    def save(self, path: Path) -> None:
        """Write the register to folder `path` (a sibling temp folder renamed into place: all or nothing)."""
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        arrays = {"record_id": self.record_id, "names_data": np.frombuffer(self.names.data, dtype=np.uint8),
                  "names_off": self.names.offsets, "cores_data": np.frombuffer(self.cores.data, dtype=np.uint8),
                  "cores_off": self.cores.offsets, "key_hash": self.key_hash, "key_row": self.key_row,
                  "key_amb": self.key_amb, "tok_ptr": self.tok_ptr, "tok_rows": self.tok_rows,
                  "vector_ids": self.vector_ids, **{f"code_{c}": v for c, v in self.codes.items()}}
        np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        values = {c: [list(v) if isinstance(v, tuple) else v for v in vs] for c, vs in self.values.items()}
        (tmp / "values.json").write_text(json.dumps({"values": values, "vocab": self.vocab}, ensure_ascii=False))
        faiss.write_index(self.index, str(tmp / "vectors.faiss"))
        (tmp / "manifest.json").write_text(json.dumps(self.meta, indent=1))
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> RecordRegister:
        """Read a folder written by save(); FileNotFoundError or ValueError if it is absent or not one."""
        meta = json.loads((path / "manifest.json").read_text())
        if meta.get("format") != REGISTER_FORMAT:
            raise ValueError(f"{path}: register format {meta.get('format')!r}, expected {REGISTER_FORMAT}")
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            a = {k: npz[k] for k in npz.files}
        extra = json.loads((path / "values.json").read_text())
        values = {c: [tuple(v) if c in LIST_COLUMNS else v for v in vs] for c, vs in extra["values"].items()}
        arrays = {
            "record_id": a["record_id"], "names": _Strings(a["names_data"].tobytes(), a["names_off"]),
            "cores": _Strings(a["cores_data"].tobytes(), a["cores_off"]),
            "codes": {c: a[f"code_{c}"] for c in _TEXT}, "values": values, "key_hash": a["key_hash"],
            "key_row": a["key_row"], "key_amb": a["key_amb"], "vocab": extra["vocab"], "tok_ptr": a["tok_ptr"],
            "tok_rows": a["tok_rows"], "vector_ids": a["vector_ids"],
        }
        return cls(arrays, faiss.read_index(str(path / "vectors.faiss")), meta)

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        """How many records."""
        return int(self.record_id.size)

    def set_search(self, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Search breadth: IVF lists probed, or HNSW efSearch."""
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None and nprobe is not None:
            ivf.nprobe = min(nprobe, ivf.nlist)
        if hasattr(self.index, "hnsw") and ef_search is not None:
            self.index.hnsw.efSearch = ef_search

    def _row_of(self, record_id: int) -> int | None:
        pos = int(np.searchsorted(self.sorted_ids, record_id))
        if pos < self.sorted_ids.size and self.sorted_ids[pos] == record_id:
            return int(self.order[pos])
        return None

    def __contains__(self, record_id: object) -> bool:
        """Whether a record id is in the register."""
        return isinstance(record_id, (int, np.integer)) and self._row_of(int(record_id)) is not None

    def row(self, record_id: int) -> dict[str, Any] | None:
        """The record as a gazetteer row dict (list cells as tuples), or None."""
        i = self._row_of(int(record_id))
        if i is None:
            return None
        out: dict[str, Any] = {"record_id": int(self.record_id[i]), "name": self.names[i]}
        for column in _TEXT:
            out[column] = self.values[column][int(self.codes[column][i])]
        return out

    def name(self, record_id: int) -> str:
        """The record's name ("" if absent)."""
        i = self._row_of(int(record_id))
        return "" if i is None else self.names[i]

    def keys(self, record_id: int) -> RecordKeys | None:
        """The record's RecordKeys, rebuilt from its columns (no vector ids: its vector is the register's)."""
        rid = int(record_id)
        cached = self._keys.get(rid)
        if cached is not None:
            self._keys.move_to_end(rid)
            return cached
        row = self.row(rid)
        if row is None:
            return None
        i = self._row_of(rid)
        assert i is not None
        name, core_key = str(row["name"]), self.cores[i]
        keys = tuple(dict.fromkeys(name_keys(name, core_key, row["aliases"])))
        acro = acronym(name)
        amb = frozenset({acro.casefold()}) - set(keys) if acro else frozenset()
        rk = RecordKeys(rid, keys + tuple(amb), amb, acro or "", str(row["country"]), core_key, (name,),
                        str(row["source"]) == "user")
        self._keys[rid] = rk
        if len(self._keys) > _CACHE:
            self._keys.popitem(last=False)
        return rk

    def holders(self, key: str) -> np.ndarray:
        """Record ids holding exact key `key` (a hash match, checked against the record's keys)."""
        h = np.uint64(key_hash(key))
        lo, hi = np.searchsorted(self.key_hash, h, "left"), np.searchsorted(self.key_hash, h, "right")
        if lo == hi:
            return np.empty(0, dtype=np.int64)
        return self.record_id[self.key_row[lo:hi]]

    def fuzzy(self, key: str, limit: int, cutoff: int = 60) -> dict[str, float]:
        """Keys like `key` (rapidfuzz ratio >= cutoff), best `limit`, scored over the rows sharing its rarest words."""
        rows = self.block(key)
        if rows.size == 0:
            return {}
        cores = [self.cores[int(i)] for i in rows]
        hits = process.extract(key, cores, scorer=fuzz.ratio, score_cutoff=cutoff, limit=limit)
        return {text: score / 100.0 for text, score, _ in hits}

    def block(self, key: str) -> np.ndarray:
        """Rows sharing the query's words, rarest first, at most BLOCK_ROWS (typo'd words simply share none)."""
        postings = []
        for token in dict.fromkeys(key.split()):
            t = self.token_of.get(token)
            if t is not None:
                postings.append(self.tok_rows[self.tok_ptr[t] : self.tok_ptr[t + 1]])
        if not postings:
            return np.empty(0, dtype=np.int32)
        postings.sort(key=len)
        # Rows holding several of the words come first: count shared words over the rarer postings.
        rare = postings[: 3]
        joined = np.concatenate([p[:20_000] for p in rare])
        rows, counts = np.unique(joined, return_counts=True)
        if rows.size > BLOCK_ROWS:
            rows = rows[np.argsort(-counts, kind="stable")[:BLOCK_ROWS]]
        return rows

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, record ids; -1 padding) of each query vector."""
        k = max(1, min(k, len(self)))
        scores, rows = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        return scores, np.where(rows >= 0, self.record_id[np.maximum(rows, 0)], -1)

    def vectors(self, record_ids: Sequence[int]) -> np.ndarray:
        """The stored (approximate for PQ) vectors of records, float32 [n, dim]."""
        rows = np.asarray([self._row_of(int(r)) for r in record_ids], dtype=np.int64)
        if rows.size == 0:
            return np.empty((0, self.index.d), dtype=np.float32)
        out = np.ascontiguousarray(self.index.reconstruct_batch(rows))
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def vectors_by_id(self, vector_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, vectors of the found) for vector ids this register holds: reused by a rebuild."""
        if self.vector_ids.size == 0:
            return np.zeros(len(vector_ids), dtype=bool), np.empty((0, self.index.d), dtype=np.float32)
        order = np.argsort(self.vector_ids)
        held = self.vector_ids[order]
        pos = np.minimum(np.searchsorted(held, vector_ids), held.size - 1)
        found = held[pos] == vector_ids
        rows = order[pos[found]].astype(np.int64)
        if rows.size == 0:
            return found, np.empty((0, self.index.d), dtype=np.float32)
        return found, np.ascontiguousarray(self.index.reconstruct_batch(rows))

    def token_df(self) -> dict[str, int]:
        """Records holding each word of a name (for word rarity)."""
        counts = np.diff(self.tok_ptr)
        return dict(zip(self.vocab, counts.tolist(), strict=True))

    def matching(self, country: str | None, sector: str | None) -> set[int]:
        """Record ids in `country` (ISO2) and ISIC `sector` (a section letter or a division)."""
        keep = np.ones(len(self), dtype=bool)
        if country:
            keep &= self._is("country", country.upper())
        if sector:
            column = "isic_section" if len(sector) == 1 else "isic_division"
            keep &= self._is(column, sector.upper() if len(sector) == 1 else sector)
        return set(self.record_id[keep].tolist())

    def _is(self, column: str, value: str) -> np.ndarray:
        try:
            code = self.values[column].index(value)
        except ValueError:
            return np.zeros(len(self), dtype=bool)
        return self.codes[column] == code
