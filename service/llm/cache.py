"""LLM answers by (model, prompt, schema) hash, in SQLite under AUTOCODE_HOME: a rerun asks the model nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from autocode.service.paths import autocode_home
from autocode.service.stores.sqlite import SqliteStore

__all__ = ["LLMCache", "default_cache_path"]


def default_cache_path() -> Path:
    """Where answers are kept unless told otherwise."""
    return autocode_home() / "llm_cache.sqlite3"


class LLMCache(SqliteStore):
    """get/put of valid answers; only answers that passed the schema check are ever stored."""

    SCHEMA_VERSION: ClassVar[int] = 1
    DDL: ClassVar[tuple[str, ...]] = (
        "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL, created_at TEXT NOT NULL)",
    )

    def __init__(self, path: Path | str | None = None) -> None:
        self._open(Path(path) if path is not None else default_cache_path())

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer for `key`, or None."""
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store an answer (a later answer for the same key replaces it)."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                       (key, json.dumps(value, ensure_ascii=False), datetime.now(UTC).isoformat(timespec="seconds")))

    def __len__(self) -> int:
        """How many answers are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
