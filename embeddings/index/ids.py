"""The id table: caller-chosen 64-bit ids <-> FAISS rows, kept beside FAISS in three small int64 arrays.

FAISS addresses vectors by *row* (0..rows-1, in insertion order). ``row_ids`` maps row -> id, with
``-1`` for a removed row (a tombstone, which only HNSW keeps); the sorted ``keys``/``key_rows`` pair
maps id -> row by binary search. That is 24 bytes per record, far leaner than a Python dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class IdTable:
    """Row -> id and id -> row for the rows a FAISS index holds; not thread-safe (the index's lock guards it)."""

    def __init__(self) -> None:
        self.row_ids = np.empty(0, dtype=np.int64)
        self.keys = np.empty(0, dtype=np.int64)
        self.key_rows = np.empty(0, dtype=np.int64)
        self.dead = 0
        self._live_bits: np.ndarray | None = None

    @classmethod
    def from_row_ids(cls, row_ids: np.ndarray) -> IdTable:
        """The table for a saved row -> id array (tombstones as -1); repeated ids are the caller's to reject."""
        table = cls()
        live_rows = np.flatnonzero(row_ids >= 0)
        order = np.argsort(row_ids[live_rows], kind="stable")
        table.row_ids = row_ids
        table.keys = row_ids[live_rows][order]
        table.key_rows = live_rows[order].astype(np.int64)
        table.dead = int(row_ids.size - live_rows.size)
        return table

    def __len__(self) -> int:
        """Number of live ids."""
        return int(self.keys.size)

    @property
    def rows(self) -> int:
        """Rows FAISS holds, tombstones included."""
        return int(self.row_ids.size)

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(present mask, rows with -1 where absent) for int64 `ids`."""
        if self.keys.size == 0 or ids.size == 0:
            return np.zeros(ids.shape, dtype=bool), np.full(ids.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, ids), self.keys.size - 1)
        present = self.keys[pos] == ids
        return present, np.where(present, self.key_rows[pos], -1)

    def append(self, ids: np.ndarray) -> None:
        """Give new, absent `ids` the next rows, in order (FAISS has just added their vectors)."""
        start = int(self.row_ids.size)
        rows = np.arange(start, start + ids.size, dtype=np.int64)
        self.row_ids = np.concatenate([self.row_ids, ids])
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        pos = np.searchsorted(self.keys, sorted_ids)
        self.keys = np.insert(self.keys, pos, sorted_ids)
        self.key_rows = np.insert(self.key_rows, pos, rows[order])
        self._live_bits = None

    def forget(self, ids: np.ndarray) -> None:
        """Drop present `ids` from the id -> row side; their rows are then deleted or tombstoned."""
        keep = np.ones(self.keys.size, dtype=bool)
        keep[np.searchsorted(self.keys, ids)] = False
        self.keys = self.keys[keep]
        self.key_rows = self.key_rows[keep]
        self._live_bits = None

    def delete_rows(self, rows: np.ndarray) -> None:
        """Close the gaps FAISS's remove_ids left at `rows` (flat indexes)."""
        self.row_ids = np.delete(self.row_ids, rows)
        # remove_ids keeps the survivors' order, so each row moves down by the removed rows before it.
        self.key_rows = self.key_rows - np.searchsorted(np.sort(rows), self.key_rows)
        self._live_bits = None

    def tombstone(self, rows: np.ndarray) -> None:
        """Mark `rows` removed while FAISS still holds them (HNSW graphs cannot delete)."""
        self.row_ids[rows] = -1
        self.dead += int(rows.size)
        self._live_bits = None

    def live_rows(self) -> np.ndarray:
        """Rows holding a live id, ascending."""
        return np.flatnonzero(self.row_ids >= 0)

    def keep_rows(self, live_rows: np.ndarray) -> None:
        """Renumber after a rebuild that kept exactly `live_rows` (from live_rows()), in order."""
        self.row_ids = self.row_ids[live_rows]
        self.key_rows = np.searchsorted(live_rows, self.key_rows).astype(np.int64)
        self.dead = 0
        self._live_bits = None

    def live_bitmap(self) -> np.ndarray:
        """The live rows as a little-endian bitmap, the layout of FAISS's IDSelectorBitmap; cached."""
        if self._live_bits is None:
            self._live_bits = np.packbits(self.row_ids >= 0, bitorder="little")
        return self._live_bits


def check_ids(ids: Any, *, unique: bool) -> np.ndarray:
    """`ids` as a 1-D int64 array of non-negative ids; ValueError naming what is wrong."""
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
        raise ValueError(f"ids must be non-negative, got {preview(arr[arr < 0])}")
    if unique:
        uniq, counts = np.unique(arr, return_counts=True)
        if uniq.size != arr.size:
            raise ValueError(f"ids repeat within one call, e.g. {preview(uniq[counts > 1])}")
    return arr


def preview(values: np.ndarray, limit: int = 5) -> str:
    """The first few `values` as "[1, 2, ...]", for error messages."""
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return f"[{shown}{', ...' if values.size > limit else ''}]"
