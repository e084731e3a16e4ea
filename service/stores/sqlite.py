"""What every embedded SQLite store of the service shares: opening, schema check, write transactions, closing."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Self

__all__ = ["SqliteStore"]


class SqliteStore:
    """One connection shared by threads under one lock; WAL and immediate writes make it safe across processes."""

    SCHEMA_VERSION: ClassVar[int] = 1
    DDL: ClassVar[tuple[str, ...]] = ()
    ERROR: ClassVar[type[Exception]] = ValueError  # what a store raises for a file from a newer autocode
    FILE_MODE: ClassVar[int | None] = None  # the mode a new file is created with; None: SQLite's default
    # What to call the store when the file is not SQLite at all; None lets sqlite3.DatabaseError through.
    UNUSABLE: ClassVar[str | None] = None

    path: Path
    _db: sqlite3.Connection
    _lock: threading.RLock

    def _open(self, path: Path) -> None:
        """Connect to `path` (making its folder), check its schema version and create the tables."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.FILE_MODE is not None and not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, self.FILE_MODE))  # SQLite keeps the mode of a file it finds
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        try:
            with self._lock:
                self._set_wal()
                # FULL: each store holds people's work or security decisions, written rarely; a power cut must not
                # lose one (each subclass says what it would lose).
                self._db.execute("PRAGMA synchronous=FULL")
                found = self._db.execute("PRAGMA user_version").fetchone()[0]
                if found > self.SCHEMA_VERSION:
                    raise self.ERROR(f"{path}: written by a newer autocode (schema {found}); upgrade autocode")
                # The base transaction, not self._write: a subclass's writes may do more (RecordStore bumps its
                # version), and creating the schema changes no data.
                with SqliteStore._write(self) as db:
                    for statement in self.DDL:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version={self.SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if self.UNUSABLE is None:
                raise
            raise self.ERROR(f"{path}: not a usable {self.UNUSABLE} ({exc})") from None
        except BaseException:
            self._db.close()
            raise

    def _set_wal(self) -> None:
        # Opening beside a writer that was just killed, SQLite can answer "database is locked" at once, without its
        # busy timeout, while another connection recovers the WAL (seen in the crash loops): retry for as long.
        deadline = time.monotonic() + 30
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        """Use as a context manager that closes the connection."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the block."""
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so another process cannot interleave a read-then-write.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
