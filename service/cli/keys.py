"""`autocode keys`: create, list and revoke API keys for the HTTP service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from autocode.service.cli.common import console, err, fail
from autocode.service.stores.keys import KeyStore, KeyStoreError

keys_app = typer.Typer(
    help="Create, list and revoke API keys for the HTTP service (kept hashed in AUTOCODE_HOME).", no_args_is_help=True
)


class Scope(StrEnum):
    """What a key may do; each scope includes the ones before it."""

    read = "read"
    write = "write"
    admin = "admin"


@contextmanager
def _store() -> Iterator[KeyStore]:
    try:
        store = KeyStore()
    except KeyStoreError as exc:
        fail(str(exc))
    with store:
        yield store


@keys_app.command("create")
def keys_create(
    scope: Annotated[Scope, typer.Option(help="read: look things up; write: also change them; admin: also manage keys and codebooks.")],
    name: Annotated[str, typer.Option(help="A label for people, e.g. who or what uses the key.")] = "",
) -> None:
    """Create a key and print its token on stdout: it is shown this once and stored only as a hash."""
    with _store() as store:
        try:
            info, token = store.create(scope.value, name)
        except KeyStoreError as exc:
            fail(str(exc))
    typer.echo(token)  # alone on stdout, so `TOKEN=$(autocode keys create ...)` captures exactly the token
    label = f" ({escape(info.name)})" if info.name else ""
    err.print(
        f"[green]created[/] {info.scope} key [bold]{info.key_id}[/]{label}. The token above is shown once and "
        "autocode keeps only its hash: store it now. Send it as `Authorization: Bearer <token>`.",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False) -> None:
    """List every key (revoked ones included) with its scope and when it was last used; never a secret."""
    with _store() as store:
        keys = store.list()
    if as_json:
        typer.echo(json.dumps([k.to_dict() for k in keys], ensure_ascii=False, indent=2))
        return
    if not keys:
        console.print("no keys yet; make one with `autocode keys create --scope read`", highlight=False)
        return
    table = Table("id", "name", "scope", "created", "last used", "revoked")
    for k in keys:
        table.add_row(k.key_id, escape(k.name), k.scope, _when(k.created_at), _when(k.last_used_at),
                      f"[red]{_when(k.revoked_at)}[/]" if k.revoked_at else "")
    console.print(table)
    revoked = sum(k.revoked_at is not None for k in keys)
    console.print(f"{len(keys) - revoked} active · {revoked} revoked")


def _when(stamp: str | None) -> str:
    return stamp[:16].replace("T", " ") + " UTC" if stamp else "never"


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id, as `autocode keys list` shows it.")]) -> None:
    """Revoke a key for good: its token stops working at once."""
    key_id = key_id.strip().lower()
    if key_id.startswith("ac_"):
        # Someone pasted the token: take its id rather than make them find it, and say so.
        key_id = key_id[3:15]
        err.print(f"[yellow]note:[/] that looks like a token; revoking its key id {escape(key_id)}", highlight=False)
    with _store() as store:
        if store.revoke(key_id):
            console.print(f"revoked key {escape(key_id)}", highlight=False)
            return
        known = any(k.key_id == key_id for k in store.list())
    if known:
        console.print(f"key {escape(key_id)} was already revoked", highlight=False)
        return
    fail(f"no key {key_id!r} (see `autocode keys list`)")
