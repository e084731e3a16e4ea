"""API keys: the store (hashing, verification, revocation, persistence) and `autocode keys` through Typer's runner."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autocode.service.cli import app
from autocode.service.stores import keys as keys_store
from autocode.service.stores.keys import (
    SCOPES,
    KeyInfo,
    KeyStore,
    KeyStoreError,
    default_keys_path,
    scope_allows,
)

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    """A fresh store in its own file."""
    with KeyStore(tmp_path / "keys.sqlite3") as s:
        yield s


def _secret(token: str) -> str:
    return token[len("ac_") + 12 + 1 :]


# ----------------------------------------------------------------- store


@pytest.mark.parametrize("scope", SCOPES)
def test_create_then_verify_round_trip(store: KeyStore, scope: str) -> None:
    info, token = store.create(scope, name="ci runner")
    assert token.startswith(f"ac_{info.key_id}_")
    assert len(info.key_id) == 12 and all(c in "0123456789abcdef" for c in info.key_id)
    assert len(_secret(token)) == 43
    found = store.verify(token)
    assert found is not None
    assert (found.key_id, found.name, found.scope, found.revoked_at) == (info.key_id, "ci runner", scope, None)
    assert found.last_used_at is not None


def test_tokens_are_unique(store: KeyStore) -> None:
    tokens = {store.create("read")[1] for _ in range(50)}
    assert len(tokens) == 50
    assert len({t[3:15] for t in tokens}) == 50


def test_scope_allows_matrix() -> None:
    expected = {
        ("read", "read"): True, ("read", "write"): False, ("read", "admin"): False,
        ("write", "read"): True, ("write", "write"): True, ("write", "admin"): False,
        ("admin", "read"): True, ("admin", "write"): True, ("admin", "admin"): True,
    }
    for (have, need), allowed in expected.items():
        assert scope_allows(have, need) is allowed, (have, need)
    assert scope_allows("root", "read") is False  # an unknown scope in a row grants nothing
    with pytest.raises(KeyStoreError, match="read, write, admin"):
        scope_allows("admin", "superuser")


@pytest.mark.parametrize("scope", ["", "Admin", "owner", "read "])
def test_bad_scope_names_the_allowed_ones(store: KeyStore, scope: str) -> None:
    with pytest.raises(KeyStoreError, match="must be one of read, write, admin"):
        store.create(scope)
    assert store.list() == []


def test_bad_name_is_refused(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="at most"):
        store.create("read", name="x" * 101)
    with pytest.raises(KeyStoreError, match="control"):
        store.create("read", name="line\nbreak")


def test_wrong_secret_malformed_and_unknown_are_none(store: KeyStore) -> None:
    info, token = store.create("write")
    secret = _secret(token)
    flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
    other_id = "0" * 12 if info.key_id != "0" * 12 else "1" * 12
    bad = [
        f"ac_{info.key_id}_{flipped}",  # right id, wrong secret
        f"ac_{other_id}_{secret}",  # unknown id
        token[:-1],  # truncated
        token + "x",  # too long
        token.upper(),  # id not lowercase hex
        token[3:],  # no prefix
        f"Bearer {token}",  # the header value, not the token
        "",
        "ac_",
        "ac_" + "é" * 12 + "_" + secret,
        "\udcff",  # a lone surrogate must not crash the hashing
        None,
    ]
    for candidate in bad:
        assert store.verify(candidate) is None, candidate  # type: ignore[arg-type]
    assert store.verify(token) is not None


def test_revoked_key_no_longer_verifies(store: KeyStore) -> None:
    info, token = store.create("admin")
    _, keep_token = store.create("read")
    assert store.count_active() == 2
    assert store.revoke(info.key_id) is True
    assert store.verify(token) is None
    assert store.verify(keep_token) is not None
    assert store.revoke(info.key_id) is False  # already revoked
    assert store.revoke("ffffffffffff") is False  # unknown
    assert store.count_active() == 1
    revoked = next(k for k in store.list() if k.key_id == info.key_id)
    assert revoked.revoked_at is not None


def test_database_never_holds_the_token_or_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    with KeyStore(path) as store:
        made = [store.create(scope, name=f"key {scope}") for scope in SCOPES]
        for _, token in made:
            store.verify(token)
        wal = path.with_name(path.name + "-wal")
        wal_before = wal.read_bytes()
        assert wal_before  # the writes are there, so the check below is not vacuous
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes, wal_after = path.read_bytes(), wal.read_bytes() if wal.exists() else b""
    assert b"key admin" in db_bytes  # likewise: the rows did reach the main file
    for _, token in made:
        secret = _secret(token)
        raw = base64.urlsafe_b64decode(secret + "=")
        for blob in (db_bytes, wal_before, wal_after):
            assert token.encode() not in blob
            assert secret.encode() not in blob
            assert raw not in blob


def test_list_and_to_dict_never_expose_secrets(store: KeyStore) -> None:
    made = [store.create(scope) for scope in SCOPES]
    listed = store.list()
    assert [k.key_id for k in listed] == [info.key_id for info, _ in made]  # oldest first
    dumped = json.dumps([k.to_dict() for k in listed])
    assert set(listed[0].to_dict()) == {"key_id", "name", "scope", "created_at", "revoked_at", "last_used_at"}
    for _, token in made:
        assert _secret(token) not in dumped
        assert keys_store._digest(token) not in dumped


def test_keys_persist_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    with KeyStore(path) as first:
        info, token = first.create("write", name="nightly")
        gone, gone_token = first.create("read")
        first.revoke(gone.key_id)
    with KeyStore(path) as second:
        found = second.verify(token)
        assert found is not None and (found.key_id, found.scope, found.name) == (info.key_id, "write", "nightly")
        assert second.verify(gone_token) is None
        assert second.count_active() == 1


def test_default_path_is_in_autocode_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTOCODE_HOME", str(tmp_path / "home"))
    assert default_keys_path() == tmp_path / "home" / "keys.sqlite3"
    with KeyStore() as store:
        assert store.path == default_keys_path()


def test_last_used_is_written_at_most_once_a_minute(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _, token = store.create("read")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock = [start]
    monkeypatch.setattr(keys_store, "_now", lambda: clock[0])
    writes: list[str] = []
    store._db.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("UPDATE") else None)

    first = store.verify(token)
    assert first is not None and first.last_used_at == start.isoformat(timespec="microseconds")
    clock[0] = start + timedelta(seconds=30)
    assert store.verify(token).last_used_at == first.last_used_at  # type: ignore[union-attr]
    clock[0] = start + timedelta(seconds=61)
    later = store.verify(token)
    assert later is not None and later.last_used_at == clock[0].isoformat(timespec="microseconds")
    assert len(writes) == 2
    assert store.list()[0].last_used_at == later.last_used_at


def test_verify_from_many_threads(store: KeyStore) -> None:
    tokens = [store.create(scope)[1] for scope in SCOPES]
    results: list[KeyInfo | None] = []

    def work() -> None:
        for _ in range(50):
            results.extend(store.verify(t) for t in tokens)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 * 50 * 3 and all(r is not None for r in results)


def test_newer_schema_and_foreign_files_are_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(KeyStoreError, match="newer autocode"):
        KeyStore(newer)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(KeyStoreError, match="not a usable key store"):
        KeyStore(junk)


# ----------------------------------------------------------------- CLI


def _cli_create(scope: str, name: str = "") -> str:
    result = runner.invoke(app, ["keys", "create", "--scope", scope, *(["--name", name] if name else [])])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # the token alone on stdout
    assert "shown once" in result.stderr and "hash" in result.stderr
    return lines[0]


def test_cli_create_prints_a_token_that_verifies() -> None:
    for scope in SCOPES:
        token = _cli_create(scope, name=f"{scope} client")
        with KeyStore() as store:
            found = store.verify(token)
        assert found is not None and found.scope == scope and found.name == f"{scope} client"


def test_cli_create_refuses_a_bad_scope() -> None:
    result = runner.invoke(app, ["keys", "create", "--scope", "root"])
    assert result.exit_code != 0
    assert "read" in result.output and "admin" in result.output
    missing = runner.invoke(app, ["keys", "create"])
    assert missing.exit_code != 0 and "--scope" in missing.output


def test_cli_list_json_and_table_show_no_secret() -> None:
    empty = runner.invoke(app, ["keys", "list"])
    assert empty.exit_code == 0 and "no keys yet" in empty.stdout
    tokens = [_cli_create("read", name="reader"), _cli_create("admin")]
    result = runner.invoke(app, ["keys", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [k["key_id"] for k in listed] == [t[3:15] for t in tokens]
    assert [k["scope"] for k in listed] == ["read", "admin"] and listed[0]["name"] == "reader"
    table = runner.invoke(app, ["keys", "list"])
    assert table.exit_code == 0 and "2 active · 0 revoked" in table.stdout
    for token in tokens:
        assert _secret(token) not in result.stdout and _secret(token) not in table.stdout
        assert token[3:15] in table.stdout


def test_cli_revoke_then_verify_is_none() -> None:
    token = _cli_create("write")
    key_id = token[3:15]
    result = runner.invoke(app, ["keys", "revoke", key_id])
    assert result.exit_code == 0, result.output
    assert f"revoked key {key_id}" in result.stdout
    with KeyStore() as store:
        assert store.verify(token) is None
    again = runner.invoke(app, ["keys", "revoke", key_id])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    assert listed[0]["revoked_at"] is not None


def test_cli_revoke_accepts_a_pasted_token() -> None:
    token = _cli_create("read")
    result = runner.invoke(app, ["keys", "revoke", token])
    assert result.exit_code == 0, result.output
    assert "looks like a token" in result.stderr
    with KeyStore() as store:
        assert store.verify(token) is None


def test_cli_revoke_unknown_fails_with_a_message() -> None:
    result = runner.invoke(app, ["keys", "revoke", "abcdefabcdef"])
    assert result.exit_code != 0
    assert "no key 'abcdefabcdef'" in result.stderr
