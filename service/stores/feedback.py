"""The feedback store: people's corrections of predictions, kept in SQLite (WAL) and replayed at start-up."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autocode.service.paths import autocode_home
from autocode.service.stores.sqlite import SqliteStore

__all__ = ["FeedbackStore", "default_feedback_path"]

_DDL = (
    # AUTOINCREMENT: an id is never reused, so a feedback_id quoted in a log always means one correction.
    (
        "CREATE TABLE IF NOT EXISTS feedback (feedback_id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, "
        "text TEXT NOT NULL, codes TEXT NOT NULL, prediction TEXT, note TEXT NOT NULL DEFAULT '', key_id TEXT, "
        "created_at TEXT NOT NULL)"
    ),
    "CREATE INDEX IF NOT EXISTS feedback_by_target ON feedback (target, feedback_id)",
)


def default_feedback_path() -> Path:
    """Where the store lives unless told otherwise."""
    return autocode_home() / "feedback.sqlite3"


class FeedbackStore(SqliteStore):
    """Corrections by target ("codebook:<id>" or "model:<name>"); safe to share between threads and processes."""

    SCHEMA_VERSION = 1
    DDL = _DDL
    ERROR = ValueError
    # synchronous=FULL (see SqliteStore): a correction is a person's work; a power cut must not lose it.

    def __init__(self, path: Path | str | None = None) -> None:
        self._open(Path(path) if path is not None else default_feedback_path())

    def add(
        self,
        target: str,
        text: str,
        codes: Sequence[str],
        *,
        prediction: dict[str, Any] | None = None,
        note: str = "",
        key_id: str | None = None,
    ) -> dict[str, Any]:
        """Store one correction; returns the stored row (with its feedback_id and created_at)."""
        target, text, codes = _check(target, text, codes)
        row = (
            target,
            text,
            json.dumps(codes, ensure_ascii=False),
            None if prediction is None else json.dumps(prediction, ensure_ascii=False, default=_jsonable),
            str(note or ""),
            key_id,
            datetime.now(UTC).isoformat(timespec="microseconds"),
        )
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO feedback (target, text, codes, prediction, note, key_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            stored = self._db.execute("SELECT * FROM feedback WHERE feedback_id = ?", (cursor.lastrowid,)).fetchone()
        return _decode(stored)

    def for_target(self, target: str, after_id: int = 0) -> list[dict[str, Any]]:
        """Corrections for `target` newer than `after_id`, oldest first, so replaying them leaves the latest winning."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM feedback WHERE target = ? AND feedback_id > ? ORDER BY feedback_id",
                                    (target, int(after_id))).fetchall()
        return [_decode(r) for r in rows]

    def remove(self, feedback_id: int) -> bool:
        """Delete one correction (a reviewer's undo); False when there is no such id."""
        with self._lock:
            return self._db.execute("DELETE FROM feedback WHERE feedback_id = ?", (int(feedback_id),)).rowcount > 0

    def recode(self, target: str, old: str, new: str) -> int:
        """Rewrite code `old` as `new` in a target's corrections (two codes merged); returns the rows changed."""
        changed = 0
        with self._write() as db:
            for row in db.execute("SELECT feedback_id, codes FROM feedback WHERE target = ?", (target,)).fetchall():
                codes = json.loads(row["codes"])
                if old in codes:
                    recoded = list(dict.fromkeys(new if c == old else c for c in codes))
                    db.execute("UPDATE feedback SET codes = ? WHERE feedback_id = ?",
                               (json.dumps(recoded, ensure_ascii=False), row["feedback_id"]))
                    changed += 1
        return changed

    def count(self, target: str | None = None) -> int:
        """How many corrections there are, for one target or in all."""
        with self._lock:
            if target is None:
                return int(self._db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
            return int(self._db.execute("SELECT COUNT(*) FROM feedback WHERE target = ?", (target,)).fetchone()[0])


def _check(target: str, text: str, codes: Sequence[str]) -> tuple[str, str, list[str]]:
    # The store cannot know a codebook; FeedbackMemory checks the codes themselves before anything is stored.
    if not isinstance(target, str) or not target.strip():
        raise ValueError("target must be a non-empty string such as 'codebook:<id>' or 'model:<name>'")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is empty: there is nothing to correct")
    if isinstance(codes, str):
        codes = [codes]
    clean = list(dict.fromkeys(codes))
    if not clean or not all(isinstance(c, str) and c for c in clean):
        raise ValueError(f"codes must be a non-empty list of non-empty strings, got {codes!r}")
    return target, text, clean


def _jsonable(value: Any) -> Any:
    """What json cannot write itself: sets and numpy scalars as lists and numbers, anything else as its str."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["codes"] = json.loads(out["codes"])
    out["prediction"] = None if out["prediction"] is None else json.loads(out["prediction"])
    return out
