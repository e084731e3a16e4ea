"""The `autocode` command line."""

from __future__ import annotations

import json
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="autocode: code free-text answers into a codebook, offline, and say how sure it is.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
codebooks_app = typer.Typer(help="List and inspect codebooks (built-in ones, or a YAML/JSON file).", no_args_is_help=True)
app.add_typer(codebooks_app, name="codebooks")
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


@codebooks_app.command("list")
def codebooks_list() -> None:
    """List the built-in codebooks with their size and kind."""
    from classifiers.codebook import builtin_codebook_ids, load_codebook

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
    from classifiers.codebook import CodebookError, load_codebook

    try:
        cb = load_codebook(ref)
    except CodebookError as exc:
        _fail(str(exc))
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


@app.command("code")
def code(
    data: Annotated[Path, typer.Argument(help="Input table: .csv, .tsv, .xlsx, .jsonl or .parquet. It is never modified.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The column of free text to code.")],
    codebook: Annotated[str, typer.Option(help="Built-in codebook id or a YAML/JSON codebook path.")] = "employer-support",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the coded table here (format from suffix).")] = None,
    encoder: Annotated[str, typer.Option(help="Encoder: minilm or use-multilingual.")] = "minilm",
    show: Annotated[int, typer.Option(help="Print this many coded rows to the terminal.")] = 20,
) -> None:
    """Code one column of a table into a codebook; adds C_code, C_label, C_confidence, C_method, C_needs_review, C_evidence."""
    from classifiers.codebook import CodebookError

    from service.tables import TableError, read_table, require_column, write_table_atomic

    try:
        frame = read_table(data)
        require_column(frame, column, data)
        coded, summary = _code_frame(frame, column, codebook, encoder)
    except (TableError, CodebookError, ValueError) as exc:
        _fail(str(exc))
    if output is not None:
        write_table_atomic(coded, output)
    _print_rows(coded, column, show)
    _print_summary(summary, output)


def _code_frame(frame, column: str, codebook_ref: str, encoder_name: str):
    """Code `column` of `frame` with zero-shot on a codebook; returns the coded frame and a summary dict."""
    from classifiers.codebook import load_codebook
    from classifiers.coding import code_texts
    from classifiers.zeroshot import ZeroShotClassifier
    from embeddings import get_encoder

    start = time.perf_counter()
    cb = load_codebook(codebook_ref)
    clf = ZeroShotClassifier(get_encoder(encoder_name), cb).fit()
    texts = frame[column].fillna("").astype(str).tolist()
    preds, n_unique = code_texts(clf, texts)
    out = frame.copy()
    out[f"{column}_code"] = ["|".join(p.codes) for p in preds]
    out[f"{column}_label"] = ["|".join(p.labels) for p in preds]
    out[f"{column}_confidence"] = [round(p.confidence, 4) for p in preds]
    out[f"{column}_method"] = [p.method for p in preds]
    out[f"{column}_needs_review"] = [p.needs_review for p in preds]
    out[f"{column}_evidence"] = [json.dumps([e.__dict__ for e in p.evidence], ensure_ascii=False) for p in preds]
    review = sum(p.needs_review for p in preds)
    summary = {"rows": len(preds), "unique": n_unique, "review": review, "seconds": time.perf_counter() - start}
    return out, summary


def _print_rows(frame, column: str, limit: int) -> None:
    table = Table(column, "code", "label", "conf.", "review")
    for _, row in frame.head(limit).iterrows():
        flag = "[yellow]review[/]" if row[f"{column}_needs_review"] else "[green]auto[/]"
        table.add_row(str(row[column])[:60], row[f"{column}_code"], str(row[f"{column}_label"])[:50], f"{row[f'{column}_confidence']:.2f}", flag)
    console.print(table)


def _print_summary(summary: dict, output: Path | None) -> None:
    rows = summary["rows"] or 1
    auto = summary["rows"] - summary["review"]
    console.print(
        f"rows {summary['rows']} · unique texts {summary['unique']} · auto-coded {auto} ({100 * auto / rows:.0f}%) · "
        f"sent to review {summary['review']} ({100 * summary['review'] / rows:.0f}%) · {summary['seconds']:.1f}s"
        + (f" · wrote {output}" if output else "")
    )


@app.command("demo")
def demo() -> None:
    """Code the shipped sample survey (data/samples/survey_sample.csv): support answers and employers."""
    sample = Path(str(files("autocode_data") / "samples" / "survey_sample.csv"))
    console.rule("support column → employer-support codebook (multi-label, zero-shot)")
    code(sample, column="support", codebook="employer-support", output=None, encoder="minilm", show=50)
    console.rule("employer column → ISIC Rev.4 divisions (zero-shot on the name's meaning)")
    code(sample, column="employer", codebook="isic4", output=None, encoder="minilm", show=50)


def main() -> None:
    """Console-script entry point."""
    app()
