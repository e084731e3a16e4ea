"""The user's employer records: additions, corrections and removals over the gazetteer, in SQLite (WAL).

One file, `AUTOCODE_HOME/records.sqlite3`. A user row with a gazetteer record's id corrects that record;
a row with an id >= USER_ID_BASE is the user's own record (gazetteer ids are 62-bit hashes, so they never
collide); an id in `removed` hides a gazetteer record. `merged(gazetteer)` is what the resolver searches.
Every write is one transaction that also bumps `version`, so a reader can tell cheaply whether it is stale.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from autocode.classifiers.employers.gazetteer import COLUMNS, LIST_COLUMNS
from autocode.service.paths import autocode_home
from autocode.service.stores.record_schema import RecordError, isic_section_of, validate_record
from autocode.service.stores.sqlite import SqliteStore
from autocode.service.tables.formats import TableError, read_table

__all__ = ["USER_ID_BASE", "ImportSummary", "RecordError", "RecordStore", "default_store_path"]

USER_ID_BASE = 2**62
# A user record has no source id of its own (ROR id, ticker): the store keeps the other columns.
_FIELDS = [c for c in COLUMNS if c not in ("record_id", "source_id")]
_DDL = (
    "CREATE TABLE IF NOT EXISTS records (record_id INTEGER PRIMARY KEY, "
    + "".join(f"{c} TEXT NOT NULL DEFAULT '', " for c in _FIELDS)
    + "created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS removed (record_id INTEGER PRIMARY KEY, removed_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    f"INSERT OR IGNORE INTO meta VALUES ('version', 0), ('next_id', {USER_ID_BASE})",  # noqa: S608 - a constant int
)

Reference = Callable[[int], Mapping[str, Any] | None]


def default_store_path() -> Path:
    """Where the store lives unless told otherwise."""
    return autocode_home() / "records.sqlite3"


def _gazetteer_lookup() -> Reference:
    from autocode.classifiers.employers.gazetteer import load_gazetteer

    rows: dict[int, int] | None = None
    frame: pd.DataFrame | None = None

    def lookup(record_id: int) -> Mapping[str, Any] | None:
        nonlocal rows, frame
        if frame is None:  # loaded on the first correction only: adds and lists never pay for it
            frame = load_gazetteer()
            rows = {int(r): i for i, r in enumerate(frame["record_id"])}
        i = rows.get(record_id) if rows is not None else None
        return None if i is None else frame.iloc[i].to_dict()

    return lookup


@dataclass
class ImportSummary:
    """What an import did: ids added and corrected, and the rows skipped as "row N: reason"."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class RecordStore(SqliteStore):
    """The embedded record store; safe to share between threads and processes (WAL, immediate writes)."""

    SCHEMA_VERSION = 1
    DDL = _DDL
    ERROR = RecordError
    # synchronous=FULL (see SqliteStore): record edits are rare; a power cut must not lose one.

    def __init__(self, path: Path | str | os.PathLike[str] | None = None, *, reference: Reference | None = None) -> None:
        # `reference` finds a gazetteer record by id, so a partial correction can start from it.
        self._reference = reference or _gazetteer_lookup()
        self._open(Path(path) if path is not None else default_store_path())

    @contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE (SqliteStore._write) makes read-then-write (next id, merge) safe against another process.
        with super()._write() as db:
            yield db
            if bump:
                db.execute("UPDATE meta SET value = value + 1 WHERE key = 'version'")

    # ----------------------------------------------------------------- reads

    @property
    def version(self) -> int:
        """A counter bumped by every write, from any process."""
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    def get(self, record_id: int) -> dict[str, Any] | None:
        """The user's row for `record_id` (an addition or a correction), or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM records WHERE record_id = ?", (int(record_id),)).fetchone()
        return None if row is None else _decode(row)

    def list(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """The user's rows, most recently changed first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM records ORDER BY updated_at DESC, record_id LIMIT ? OFFSET ?", (int(limit), int(offset))
            ).fetchall()
        return [_decode(r) for r in rows]

    def count(self) -> int:
        """How many user rows there are."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def removed_ids(self) -> set[int]:
        """Ids of gazetteer records the user removed."""
        with self._lock:
            return {int(r[0]) for r in self._db.execute("SELECT record_id FROM removed")}

    def overrides(self) -> pd.DataFrame:
        """The user's rows as a frame with the gazetteer's columns (list cells as tuples)."""
        with self._lock:
            rows = [_decode(r) for r in self._db.execute("SELECT * FROM records ORDER BY record_id")]
        frame = pd.DataFrame(rows, columns=[*COLUMNS, "created_at", "updated_at"])
        frame["record_id"] = frame["record_id"].astype("int64")
        return frame

    def merged(self, gazetteer: pd.DataFrame) -> pd.DataFrame:
        """The gazetteer without removed or corrected records, plus the user's rows (user rows win)."""
        users = self.overrides()[list(COLUMNS)]
        hidden = self.removed_ids() | set(users["record_id"].tolist())
        kept = gazetteer[~gazetteer["record_id"].isin(hidden)][list(COLUMNS)]
        if users.empty:
            return kept.reset_index(drop=True)
        return pd.concat([kept, users], ignore_index=True)

    # ----------------------------------------------------------------- writes

    def add(self, record: Mapping[str, Any]) -> int:
        """Validate and store a new user record; returns the id it was given."""
        clean = validate_record({k: v for k, v in record.items() if k != "record_id"})
        with self._write() as db:
            return self._insert_new(db, clean)

    def upsert(self, record: Mapping[str, Any]) -> int:
        """Correct record `record["record_id"]`: the given fields over the user's row, else the gazetteer's."""
        if record.get("record_id") in (None, ""):
            raise RecordError("record_id: required for a correction; use add() for a new record")
        record_id = _as_id(record["record_id"])
        with self._write() as db:
            return self._upsert(db, record_id, self._merge_base(db, record_id, record))

    def remove(self, record_id: int) -> bool:
        """Remove a user record, or hide a gazetteer record (dropping any correction); False if unknown."""
        record_id = _as_id(record_id)
        with self._write() as db:
            deleted = db.execute("DELETE FROM records WHERE record_id = ?", (record_id,)).rowcount > 0
            if record_id < USER_ID_BASE and (deleted or self._reference(record_id) is not None):
                hidden = db.execute("INSERT OR IGNORE INTO removed VALUES (?, ?)", (record_id, _now())).rowcount > 0
                return deleted or hidden
            return deleted

    def drop_correction(self, record_id: int) -> bool:
        """Delete the user's correction of a gazetteer record, so the reference row applies again; False if none."""
        record_id = _as_id(record_id)
        if record_id >= USER_ID_BASE:
            raise RecordError(f"record_id: {record_id} is a user record, not a correction; remove() deletes it")
        with self._write() as db:
            return db.execute("DELETE FROM records WHERE record_id = ?", (record_id,)).rowcount > 0

    def import_table(self, path: Path | str) -> ImportSummary:
        """Add (no `record_id`) or correct (with one) every valid row of a table, in one transaction.

        Required column `name` (may be empty on a correction); the others are optional. Lists such as
        `aliases` are a JSON list or "|"-separated. A bad row is reported as "row N: reason" and skipped.
        """
        path = Path(path)
        frame = read_table(path)
        if "name" not in frame.columns:
            raise TableError(f"{path}: no column 'name'; the file has: {', '.join(map(str, frame.columns))}")
        wanted = [c for c in frame.columns if c in COLUMNS]
        summary = ImportSummary()
        with self._write() as db:
            for number, row in enumerate(frame[wanted].to_dict("records"), start=1):
                cells = {k: _cell(k, v) for k, v in row.items()}
                # An empty cell leaves a correction's field as it was; a new record's empty name is an error.
                correction = cells.get("record_id") not in ("", None)
                cells = {k: v for k, v in cells.items() if v not in ("", None, ()) or (k == "name" and not correction)}
                try:
                    if correction:
                        record_id = _as_id(cells["record_id"])
                        self._upsert(db, record_id, self._merge_base(db, record_id, cells))
                        summary.updated.append(record_id)
                    else:
                        summary.added.append(self._insert_new(db, validate_record(cells)))
                except RecordError as exc:
                    summary.skipped.append(f"row {number}: {exc}")
        return summary

    # ----------------------------------------------------------------- internals

    def _merge_base(self, db: sqlite3.Connection, record_id: int, given: Mapping[str, Any]) -> dict[str, Any]:
        row = db.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone()
        base: Mapping[str, Any] | None = _decode(row) if row is not None else None
        if base is None and record_id < USER_ID_BASE:
            base = self._reference(record_id)
        if base is None:
            raise RecordError(f"record_id: no record {record_id} in the gazetteer or the user's records; add() gives a new record its id")
        merged = {k: v for k, v in (base or {}).items() if k in _FIELDS}
        changes = {k: v for k, v in given.items() if k in _FIELDS and v is not None}
        # A new division or country makes the old section, sector basis or regions stale: derive them again.
        if "isic_division" in changes or "isic_section" in changes:
            merged["isic_basis"] = "user"
            if "isic_section" not in changes:
                merged["isic_section"] = ""
            elif "isic_division" not in changes and isic_section_of(str(merged.get("isic_division", ""))) != changes["isic_section"]:
                merged["isic_division"] = ""
        if "country" in changes:
            merged["region"] = merged["subregion"] = ""
        merged.update(changes)
        return validate_record(merged)

    def _insert_new(self, db: sqlite3.Connection, clean: dict[str, Any]) -> int:
        record_id = int(db.execute("SELECT value FROM meta WHERE key = 'next_id'").fetchone()[0])
        db.execute("UPDATE meta SET value = ? WHERE key = 'next_id'", (record_id + 1,))
        return self._upsert(db, record_id, clean)

    def _upsert(self, db: sqlite3.Connection, record_id: int, clean: Mapping[str, Any]) -> int:
        now = _now()
        values = [json.dumps(list(clean[c]), ensure_ascii=False) if c in LIST_COLUMNS else clean[c] for c in _FIELDS]
        db.execute(
            f"INSERT INTO records (record_id, {', '.join(_FIELDS)}, created_at, updated_at) "  # noqa: S608 - column names are _FIELDS, values bound
            f"VALUES (?, {', '.join('?' for _ in _FIELDS)}, ?, ?) ON CONFLICT(record_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in [*_FIELDS, "updated_at"]),
            (record_id, *values, now, now),
        )
        db.execute("DELETE FROM removed WHERE record_id = ?", (record_id,))  # a correction brings a removed record back
        return record_id


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for c in LIST_COLUMNS:
        out[c] = tuple(json.loads(out[c] or "[]"))
    return out


def _cell(name: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if name in LIST_COLUMNS and isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return tuple(json.loads(text))
            except ValueError:
                pass
        return tuple(p.strip() for p in text.split("|") if p.strip())
    return value.strip() if isinstance(value, str) else value


def _as_id(value: Any) -> int:
    try:
        record_id = int(str(value).strip())
    except ValueError:
        raise RecordError(f"record_id: {value!r} is not a whole number") from None
    if not 0 <= record_id < 2**63:
        raise RecordError(f"record_id: {record_id} is out of range (0 to 2**63-1)")
    return record_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
