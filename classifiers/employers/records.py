"""The record tables behind the EmployerResolver: rows, match keys, name-index ids; add, correct, remove.

A record's names are embedded under ids that hash (record_id, name string), so the id -> record map is
rebuilt from the records alone and a saved name index can be reused by any process holding the same
records: only names the index lacks are encoded, and vectors of names no record has are dropped.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from autocode.classifiers.employers.gazetteer import COLUMNS, LIST_COLUMNS
from autocode.classifiers.employers.match import RecordKeys, record_keys
from autocode.classifiers.employers.register import Fallback, RecordRegister
from autocode.embeddings import Encoder, VectorIndex

__all__ = ["EmployerRecords", "clean_records", "vector_id"]


def vector_id(record_id: int, text: str) -> int:
    """The name index id of one name string of one record (stable across processes)."""
    digest = hashlib.blake2b(f"{record_id}\x1f{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def clean_records(records: pd.DataFrame) -> pd.DataFrame:
    """The records with every gazetteer column, strings for text and tuples for lists (user frames may lack some)."""
    frame = records.copy()
    for column in COLUMNS:
        if column not in frame:
            frame[column] = [() for _ in range(len(frame))] if column in LIST_COLUMNS else ""
    for column in LIST_COLUMNS:
        frame[column] = [tuple(v) if isinstance(v, (list, tuple, np.ndarray)) else () for v in frame[column]]
    for column in COLUMNS:
        if column not in LIST_COLUMNS and column != "record_id":
            # object first: an all-empty column reads as float64, which pandas will not fill with a string.
            frame[column] = frame[column].astype(object).fillna("").astype(str)
    frame["record_id"] = frame["record_id"].astype("int64")
    return frame[list(COLUMNS)]


class EmployerRecords:
    """Record tables and the name index they own; EmployerResolver adds matching and search on top."""

    encoder: Encoder
    name_index_: VectorIndex
    _lock: threading.RLock
    register_: RecordRegister | None = None  # a large record set held column-wise (see register.py), or None

    def _build_tables(self, frame: pd.DataFrame) -> None:
        """Fill the tables from clean records (see clean_records)."""
        self.rows_: dict[int, dict[str, Any]] = {}  # one gazetteer row each: text, numbers and tuples
        self.keys_: dict[int, RecordKeys] = {}
        self.key_holders_: dict[str, set[int]] = defaultdict(set)
        self.key_list_: list[str] = []
        self.key_pos_: dict[str, int] = {}
        self.vector_owner_: dict[int, int] = {}
        self.vector_text_: dict[int, str] = {}
        for row in frame.to_dict("records"):
            self._add_row(row)
        forms: dict[str, Counter[str]] = defaultdict(Counter)
        for row in self.rows_.values():
            for form in row["legal_forms"]:
                if row["country"]:
                    forms[form][str(row["country"])] += 1
        # Where a legal form is used, as learnt from the records; rare forms fall back to their listed countries.
        self.form_priors_ = {f: {c: n / sum(cs.values()) for c, n in cs.items()} for f, cs in forms.items()
                             if sum(cs.values()) >= 5}
        self._refresh_idf()

    def attach_register(self, register: RecordRegister | None) -> None:
        """Resolve against `register`'s records too (None: detach); its records are looked up by id, key and vector."""
        with self._lock:
            self.register_ = register
            rows, keys = dict(self.rows_), dict(self.keys_)
            self.rows_ = Fallback(rows, register.row) if register is not None else rows
            self.keys_ = Fallback(keys, register.keys) if register is not None else keys
            self._refresh_idf()

    def _sync_index(self, index: VectorIndex) -> None:
        """Adopt `index`: drop vectors of names no record has, encode the names it lacks."""
        if index.model != self.encoder.name or index.dim != self.encoder.dim:
            raise ValueError(f"name index was built with {index.model} (dim {index.dim}), not {self.encoder.name}")
        self.name_index_ = index
        present = set(index.ids().tolist())
        stale = present - self.vector_owner_.keys()
        if stale:
            index.remove(np.fromiter(stale, dtype=np.int64))
        self._encode_missing([v for v in self.vector_owner_ if v not in present])

    def _refresh_idf(self) -> None:
        # Word rarity over the records: "crystal" tells records apart, "international" does not.
        df: Counter[str] = Counter()
        for rk in self.keys_.values():
            df.update(rk.tokens)
        n = len(self.keys_)
        if self.register_ is not None:
            df.update(self.register_.token_df())
            n += len(self.register_)
        n = max(n, 1)
        self._idf = {t: float(np.log((n + 1) / (c + 1))) + 1.0 for t, c in df.items()}
        self._idf_default = float(np.log(n + 1)) + 1.0

    @property
    def row_ids_(self) -> dict[int, int]:
        """Vector id -> record id, the map that ties the name index to the records."""
        return self.vector_owner_

    def _encode_missing(self, vids: Sequence[int]) -> None:
        if not vids:
            return
        vectors = self.encoder.encode([self.vector_text_[v] for v in vids])
        self.name_index_.upsert(np.asarray(vids, dtype=np.int64), vectors)

    def _add_row(self, row: dict[str, Any]) -> list[int]:
        rid = int(row["record_id"])
        aliases = tuple(row["aliases"])
        rk = record_keys(rid, str(row["name"]), aliases, tuple(row["ambiguous_aliases"]),
                         str(row["country"]), str(row["source"]))
        new: list[int] = []
        for text in rk.strings:
            vid = vector_id(rid, text)
            if vid not in self.vector_owner_:
                new.append(vid)
            self.vector_owner_[vid] = rid
            self.vector_text_[vid] = text
            rk.vector_ids.append(vid)
        for key in rk.keys:
            self.key_holders_[key].add(rid)
            if key not in self.key_pos_:
                self.key_pos_[key] = len(self.key_list_)
                self.key_list_.append(key)
        self.rows_[rid] = row
        self.keys_[rid] = rk
        return new

    def _drop_row(self, rid: int) -> list[int]:
        rk = self.keys_.pop(rid, None)
        self.rows_.pop(rid, None)
        if rk is None:
            return []
        for key in rk.keys:
            holders = self.key_holders_.get(key)
            if holders is not None:
                holders.discard(rid)
        for vid in rk.vector_ids:
            self.vector_owner_.pop(vid, None)
            self.vector_text_.pop(vid, None)
        return rk.vector_ids

    def upsert_records(self, records: pd.DataFrame) -> None:
        """Add records, or correct them (same record_id); only names the index lacks are encoded."""
        frame = clean_records(records)
        with self._lock:
            dropped: set[int] = set()
            added: list[int] = []
            for row in frame.to_dict("records"):
                dropped.update(self._drop_row(int(row["record_id"])))
                added.extend(self._add_row(row))
            gone = dropped - self.vector_owner_.keys()
            if gone:
                self.name_index_.remove(np.fromiter(gone, dtype=np.int64))
            self._encode_missing([v for v in dict.fromkeys(added) if v not in self.name_index_])

    def remove_records(self, record_ids: Sequence[int]) -> int:
        """Remove records by id; returns how many were present."""
        with self._lock:
            removed, vids = 0, []
            for rid in record_ids:
                if int(rid) in self.rows_:
                    removed += 1
                    vids.extend(self._drop_row(int(rid)))
            if vids:
                self.name_index_.remove(np.asarray(vids, dtype=np.int64))
            return removed

    def _holders(self, key: str, cap: int = 20) -> list[int]:
        holders: set[int] | list[int] = self.key_holders_.get(key) or set()
        if self.register_ is not None:
            found = self.register_.holders(key)
            if found.size:
                holders = [*holders, *found[: 4 * cap].tolist()]
        users = [r for r in holders if self.keys_[r].is_user]
        # A user's record wins over reference records that share its name: a correction must take effect.
        return sorted(users or holders)[:cap]

    def _filter(self, country: str | None, sector: str | None) -> set[int] | None:
        if not country and not sector:
            return None
        country = country.upper() if country else None
        column = "isic_section" if sector and len(sector) == 1 else "isic_division"
        sector = sector.upper() if sector and len(sector) == 1 else sector
        found = {rid for rid, row in self.rows_.items()
                 if (not country or row["country"] == country) and (not sector or row[column] == sector)}
        if self.register_ is not None:
            found |= self.register_.matching(country, sector)
        return found

