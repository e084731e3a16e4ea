"""API keys for the HTTP service, in SQLite (WAL): only a hash of each token is ever stored.

One file, `AUTOCODE_HOME/keys.sqlite3`. A token reads `ac_<key_id>_<secret>`: the key id (12 hex chars) is
public and finds the row; the secret (256 random bits) is shown once, at creation, and never stored. Scopes
nest: `admin` can do what `write` can, and `write` what `read` can.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from autocode.errors import InvalidError
from autocode.service.paths import autocode_home
from autocode.service.stores.sqlite import SqliteStore

__all__ = ["SCOPES", "KeyInfo", "KeyStore", "KeyStoreError", "default_keys_path", "scope_allows"]

SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "ac_"  # noqa: S105 - the public prefix of every token, not a secret
MAX_NAME_CHARS = 100
# last_used_at is for a person deciding which keys are stale, so minute precision is plenty and saves a
# write (and a WAL fsync) on nearly every request.
TOUCH_INTERVAL = timedelta(minutes=1)

_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet, which includes "_".
_TOKEN = re.compile(r"ac_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
# A malformed or unknown token is compared against this, so it costs the same as a wrong secret.
_DUMMY_DIGEST = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
_DDL = (
    (
        "CREATE TABLE IF NOT EXISTS keys (key_id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', scope TEXT NOT NULL, "
        "digest TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT, last_used_at TEXT)"
    ),
)
_COLUMNS = "key_id, name, scope, created_at, revoked_at, last_used_at"


class KeyStoreError(InvalidError):
    """A bad scope or name, or a key file this version cannot use."""


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the token, the secret or its hash."""

    key_id: str
    name: str
    scope: str
    created_at: str
    revoked_at: str | None
    last_used_at: str | None

    def to_dict(self) -> dict[str, Any]:
        """The key as a JSON-ready dict."""
        return asdict(self)


def default_keys_path() -> Path:
    """Where the keys live unless told otherwise."""
    return autocode_home() / "keys.sqlite3"


def scope_allows(have: str, need: str) -> bool:
    """Whether a key of scope `have` may do what needs `need` (admin ⊇ write ⊇ read)."""
    if need not in _RANK:
        # A route asking for a scope that does not exist is a programming error: say so, never grant it.
        raise KeyStoreError(_scope_message(need))
    return have in _RANK and _RANK[have] >= _RANK[need]


def _scope_message(scope: object) -> str:
    return f"scope {scope!r}: must be one of {', '.join(SCOPES)}"


def _digest(token: str) -> str:
    # sha256, not bcrypt/argon2: those slow down guessing low-entropy passwords, but the secret is 256 random
    # bits, so a fast hash is already unguessable, and verify() runs on every request.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")  # one width, so stamps sort as text


class KeyStore(SqliteStore):
    """The API key store; safe to share between threads and processes (WAL, immediate writes)."""

    SCHEMA_VERSION = 1
    DDL = _DDL
    ERROR = KeyStoreError
    UNUSABLE = "key store"
    # Hashes are not secrets, but which keys exist and their names are nobody else's business.
    FILE_MODE = 0o600
    # synchronous=FULL (see SqliteStore): a revocation must survive a power cut.

    def __init__(self, path: Path | str | None = None) -> None:
        self._open(Path(path) if path is not None else default_keys_path())

    def create(self, scope: str, name: str = "") -> tuple[KeyInfo, str]:
        """Make a key; returns its info and the token, which is never available again."""
        if scope not in _RANK:
            raise KeyStoreError(_scope_message(scope))
        name = (name or "").strip()
        if len(name) > MAX_NAME_CHARS:
            raise KeyStoreError(f"name: at most {MAX_NAME_CHARS} characters (got {len(name)})")
        if not name.isprintable():
            raise KeyStoreError("name: no control characters (it is shown in tables and logs)")
        created = _stamp(_now())
        with self._write() as db:
            while True:  # 48-bit ids: a clash is vanishingly rare, but must not surface as an error
                key_id = secrets.token_hex(6)
                if db.execute("SELECT 1 FROM keys WHERE key_id = ?", (key_id,)).fetchone() is None:
                    break
            token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            db.execute(
                "INSERT INTO keys (key_id, name, scope, digest, created_at) VALUES (?, ?, ?, ?, ?)",
                (key_id, name, scope, _digest(token), created),
            )
        return KeyInfo(key_id, name, scope, created, None, None), token

    def list(self) -> list[KeyInfo]:
        """Every key, revoked ones included, oldest first."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM keys ORDER BY created_at, key_id").fetchall()  # noqa: S608 - a constant
        return [KeyInfo(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key for good; False when it is unknown or already revoked."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_stamp(_now()), str(key_id).strip().lower()),
            )
            return cursor.rowcount > 0

    def count_active(self) -> int:
        """How many keys are not revoked."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM keys WHERE revoked_at IS NULL").fetchone()[0])

    def verify(self, token: str) -> KeyInfo | None:
        """The key a token belongs to, or None when it is malformed, unknown, revoked or has a wrong secret."""
        if not isinstance(token, str):
            return None
        match = _TOKEN.fullmatch(token)
        if match is None:
            hmac.compare_digest(_digest(token), _DUMMY_DIGEST)
            return None
        key_id = match.group(1)
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS}, digest FROM keys WHERE key_id = ?", (key_id,)).fetchone()  # noqa: S608 - constant columns
        stored = row[-1] if row is not None else _DUMMY_DIGEST
        if not hmac.compare_digest(_digest(token), stored) or row is None:
            return None
        info = KeyInfo(*row[:-1])
        if info.revoked_at is not None:
            return None
        return self._touch(info)

    def _touch(self, info: KeyInfo) -> KeyInfo:
        now = _now()
        if info.last_used_at is not None and now - datetime.fromisoformat(info.last_used_at) < TOUCH_INTERVAL:
            return info
        stamp = _stamp(now)
        try:
            with self._lock:
                # The condition makes concurrent verifiers (other threads or workers) write once, not each.
                self._db.execute(
                    "UPDATE keys SET last_used_at = ? WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                    (stamp, info.key_id, _stamp(now - TOUCH_INTERVAL)),
                )
        except sqlite3.OperationalError:
            return info  # bookkeeping only: a busy database must not fail an authenticated request
        return KeyInfo(info.key_id, info.name, info.scope, info.created_at, info.revoked_at, stamp)
