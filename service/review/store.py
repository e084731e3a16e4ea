"""The review store: review sessions and every decision a person made in them, in SQLite under AUTOCODE_HOME.

A decision is written the moment it is made (synchronous=FULL, see SqliteStore), so closing the tab or
killing the server loses nothing; an undo marks the decision undone rather than deleting it, so the
log of who decided what, and when, stays whole.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autocode.errors import InvalidError, NotFoundError
from autocode.service.paths import autocode_home
from autocode.service.stores.sqlite import SqliteStore

__all__ = ["ACTIONS", "ReviewStore", "default_review_path"]

# accept: the best suggestion; choose: codes (or a record) the person picked; uncodable: no code fits; skip: later.
ACTIONS = ("accept", "choose", "uncodable", "skip")

_DDL = (
    (
        "CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, file TEXT NOT NULL, column_name TEXT NOT NULL, "
        "target TEXT NOT NULL, source TEXT NOT NULL, created_at TEXT NOT NULL)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS decisions (decision_id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, "
        "item_key TEXT NOT NULL, text TEXT NOT NULL, action TEXT NOT NULL, codes TEXT NOT NULL, fields TEXT NOT NULL, "
        "reviewer TEXT NOT NULL, created_at TEXT NOT NULL, undone_at TEXT)"
    ),
    "CREATE INDEX IF NOT EXISTS decisions_by_session ON decisions (session_id, decision_id)",
)


def default_review_path() -> Path:
    """Where the review store lives unless told otherwise."""
    return autocode_home() / "review.sqlite3"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ReviewStore(SqliteStore):
    """Sessions (a coded file, its column and target) and their decisions; safe across threads and processes."""

    SCHEMA_VERSION = 1
    DDL = _DDL
    ERROR = InvalidError
    UNUSABLE = "review store"

    def __init__(self, path: Path | str | None = None) -> None:
        self._open(Path(path) if path is not None else default_review_path())

    def open_session(self, session_id: str, file: str, column: str, target: str, source: dict[str, Any]) -> dict[str, Any]:
        """The session with this id, created on first use (a later open of the same file resumes it)."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO sessions (session_id, file, column_name, target, source, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, file, column, target, json.dumps(source), _now()),
            )
        return self.session(session_id)

    def session(self, session_id: str) -> dict[str, Any]:
        """One session's row; NotFoundError when there is none."""
        with self._lock:
            row = self._db.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no review session {session_id!r}")
        return _session(row)

    def sessions(self) -> list[dict[str, Any]]:
        """Every session, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM sessions ORDER BY created_at DESC").fetchall()
        return [_session(r) for r in rows]

    def add(self, session_id: str, item_key: str, text: str, action: str, codes: list[str], fields: dict[str, Any],
            reviewer: str) -> dict[str, Any]:
        """Record one decision at once; returns the stored row."""
        if action not in ACTIONS:
            raise InvalidError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO decisions (session_id, item_key, text, action, codes, fields, reviewer, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, item_key, text, action, json.dumps(codes, ensure_ascii=False),
                 json.dumps(fields, ensure_ascii=False), reviewer, _now()),
            )
            row = db.execute("SELECT * FROM decisions WHERE decision_id = ?", (cursor.lastrowid,)).fetchone()
        return _decision(row)

    def undo_last(self, session_id: str) -> dict[str, Any] | None:
        """Mark the session's latest standing decision undone; returns it (None when nothing is left to undo)."""
        with self._write() as db:
            row = db.execute("SELECT * FROM decisions WHERE session_id = ? AND undone_at IS NULL "
                             "ORDER BY decision_id DESC LIMIT 1", (session_id,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE decisions SET undone_at = ? WHERE decision_id = ?", (_now(), row["decision_id"]))
            return _decision(db.execute("SELECT * FROM decisions WHERE decision_id = ?", (row["decision_id"],)).fetchone())

    def standing(self, session_id: str) -> dict[str, dict[str, Any]]:
        """Per item key, its latest decision that was not undone (what the export applies)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM decisions WHERE session_id = ? AND undone_at IS NULL "
                                    "ORDER BY decision_id", (session_id,)).fetchall()
        return {r["item_key"]: _decision(r) for r in rows}

    def recode(self, session_id: str, old: str, new: str) -> int:
        """Rewrite code `old` as `new` in a session's decisions (two codes merged); returns the decisions changed."""
        changed = 0
        with self._write() as db:
            rows = db.execute("SELECT decision_id, codes, fields FROM decisions WHERE session_id = ?", (session_id,)).fetchall()
            for row in rows:
                codes = json.loads(row["codes"])
                if old not in codes:
                    continue
                fields = json.loads(row["fields"])
                recoded = list(dict.fromkeys(new if c == old else c for c in codes))
                fields.setdefault("choice", {})["codes"] = recoded
                db.execute("UPDATE decisions SET codes = ?, fields = ? WHERE decision_id = ?",
                           (json.dumps(recoded, ensure_ascii=False), json.dumps(fields, ensure_ascii=False),
                            row["decision_id"]))
                changed += 1
        return changed

    def log(self, session_id: str) -> list[dict[str, Any]]:
        """Every decision of a session, undone ones included, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM decisions WHERE session_id = ? ORDER BY decision_id",
                                    (session_id,)).fetchall()
        return [_decision(r) for r in rows]


def _session(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["column"] = out.pop("column_name")
    out["source"] = json.loads(out["source"])
    return out


def _decision(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["codes"] = json.loads(out["codes"])
    out["fields"] = json.loads(out["fields"])
    return out
