"""`autocode codebooks`: list and inspect codebooks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from autocode.service.cli.common import console, fail

codebooks_app = typer.Typer(help="List and inspect codebooks (built-in ones, or a YAML/JSON file).", no_args_is_help=True)


@codebooks_app.command("list")
def codebooks_list() -> None:
    """List the built-in codebooks with their size and kind."""
    from autocode.classifiers.codebook import builtin_codebook_ids, load_codebook

    table = Table("id", "name", "version", "labels", "kind")
    for cid in builtin_codebook_ids():
        cb = load_codebook(cid)
        kind = ("multi-label" if cb.multi_label else "single-label") + (", hierarchical" if cb.is_hierarchical() else "")
        table.add_row(cb.id, cb.name, cb.version, str(len(cb)), kind)
    console.print(table)


@codebooks_app.command("show")
def codebooks_show(
    ref: Annotated[str, typer.Argument(help="A built-in id (see `codebooks list`) or a path to a YAML/JSON codebook.")],
    limit: Annotated[int, typer.Option(help="Show at most this many labels (0 = all).")] = 0,
) -> None:
    """Print one codebook's labels as a tree-ordered table: code, name, parent, description."""
    from autocode.classifiers.codebook import CodebookError, load_codebook

    try:
        cb = load_codebook(ref)
    except CodebookError as exc:
        fail(str(exc))
    console.print(f"[bold]{cb.name}[/] ({cb.id} v{cb.version}, {len(cb)} labels, {'multi' if cb.multi_label else 'single'}-label)")
    if cb.description:
        console.print(cb.description)
    table = Table("code", "name", "parent", "description", "aliases")
    shown = 0

    def walk(parent: str | None) -> None:
        nonlocal shown
        for code in cb.children(parent):
            if limit and shown >= limit:
                return
            label = cb.get(code)
            indent = "  " * cb.depth(code)
            table.add_row(indent + code, label.name, label.parent or "", label.description[:120], ", ".join(label.aliases[:4]))
            shown += 1
            walk(code)

    walk(None)
    console.print(table)
