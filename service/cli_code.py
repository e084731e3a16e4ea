"""`autocode code`: code one column of a table into a codebook."""

from __future__ import annotations

import json
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from service.cli_common import console, fail


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
        fail(str(exc))
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


def demo() -> None:
    """Code the shipped sample survey (data/samples/survey_sample.csv): support answers and employers."""
    sample = Path(str(files("autocode_data") / "samples" / "survey_sample.csv"))
    console.rule("support column → employer-support codebook (multi-label, zero-shot)")
    code(sample, column="support", codebook="employer-support", output=None, encoder="minilm", show=50)
    console.rule("employer column → ISIC Rev.4 divisions (zero-shot on the name's meaning)")
    code(sample, column="employer", codebook="isic4", output=None, encoder="minilm", show=50)
