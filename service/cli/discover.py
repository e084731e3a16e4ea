"""`autocode discover`: no codebook yet? Draft one from the answers and write it as editable YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from autocode.service.cli.common import console, err, fail

if TYPE_CHECKING:
    from autocode.classifiers.discover import Discovery


def discover(
    data: Annotated[Path, typer.Argument(help="Table of answers: .csv, .tsv, .xlsx, .jsonl or .parquet. It is never modified.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The column of free-text answers.")],
    codes: Annotated[int | None, typer.Option("--codes", "-k", min=2, help="How many codes to draft. Default: chosen by silhouette.")] = None,
    max_codes: Annotated[int, typer.Option(min=2, help="Most codes tried when --codes is not given.")] = 20,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Codebook YAML to write. Default: DATA's name + .codebook.yaml.")] = None,
    codebook_id: Annotated[str | None, typer.Option("--id", help="The draft codebook's id. Default: from DATA's name.")] = None,
    examples: Annotated[int, typer.Option(min=1, help="Typical answers kept as each code's examples.")] = 5,
    encoder: Annotated[str, typer.Option(help="Encoder: minilm (ONNX, default), minilm-int8, minilm-torch or use-multilingual.")] = "minilm",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file (it may hold your edits).")] = False,
) -> None:
    """Draft a codebook from the answers: cluster them, name each cluster by its words, write editable YAML."""
    from autocode.classifiers.discover import DiscoverError, draft_yaml
    from autocode.classifiers.discover import discover as draft_codes
    from autocode.embeddings import get_encoder
    from autocode.embeddings.durable import write_text_atomic

    out = out or data.with_name(f"{data.stem}.codebook.yaml")
    if out.exists() and not force:
        fail(f"{out}: already exists and may hold your edits; pass --force to replace it, or choose another --out")
    texts = _read_answers(data, column)
    ident = codebook_id or _slug(f"{data.stem}-draft")
    try:
        enc = get_encoder(encoder)
        with _progress() as bar:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done)

            found = draft_codes(texts, enc, n_codes=codes, max_codes=max_codes, n_examples=examples, progress=report)
        text = draft_yaml(found, ident, f"Draft codes for {column} in {data.name}", source=f"{data.name}, column {column!r}")
    except DiscoverError as exc:
        fail(f"{data}, column {column!r}: {exc}")
    except ValueError as exc:  # an unknown encoder, an invalid --id
        fail(str(exc))
    write_text_atomic(out, text)
    _print_draft(found)
    console.print(f"{found.rule} · {len(found.answers):,} distinct answers in {sum(found.rows):,} rows"
                  + (f" · {found.skipped:,} rows with no words left out" if found.skipped else "") + f" · wrote {out}")
    console.print(f"edit it, then: autocode code {data} --column {column} --codebook {out}", soft_wrap=True)


def _read_answers(data: Path, column: str) -> list[str]:
    """The column's cells as text; a missing file, an empty file or a missing column exits naming them."""
    from autocode.service.tables.formats import TableError, read_table, require_column

    try:
        frame = read_table(data)
    except TableError as exc:
        fail(str(exc))
    except (ValueError, OSError) as exc:  # pandas: EmptyDataError is a ValueError; a bad xlsx, a bad jsonl
        fail(f"{data}: cannot read the table ({'the file is empty' if 'No columns' in str(exc) else exc})")
    try:
        require_column(frame, column, data)
    except TableError as exc:
        fail(str(exc))
    if frame.empty:
        fail(f"{data}: column {column!r} has no rows")
    return ["" if v is None else str(v) for v in frame[column].tolist()]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "draft"


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _print_draft(found: Discovery) -> None:
    table = Table("code", "name", "answers", "rows", "typical answers")
    for draft in found.codes:
        typical = " · ".join(example[:40] for example in draft.examples[:3])
        table.add_row(escape(draft.code), escape(draft.name), f"{draft.answers:,}", f"{draft.rows:,}", escape(typical))
    console.print(table)
