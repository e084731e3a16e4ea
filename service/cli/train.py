"""`autocode train`: learn a model from a labelled table and write it as a self-describing folder."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from autocode.service.cli.common import console, err, fail

if TYPE_CHECKING:
    import pandas as pd

    from autocode.classifiers.codebook import Codebook

# Bad rows printed one per line before the rest are only counted.
MAX_REPORTED = 20


def train(
    data: Annotated[Path | None, typer.Argument(help="Training table: .csv, .tsv, .xlsx, .jsonl or .parquet.")] = None,
    text_column: Annotated[str | None, typer.Option("--text-column", "-t", help="The column of free text.")] = None,
    label_column: Annotated[
        str | None, typer.Option("--label-column", "-l", help="The column of codes; several codes joined by '|'.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Model folder to write (an older model there is replaced whole).")
    ] = None,
    continue_from: Annotated[
        Path | None,
        typer.Option("--continue", help="Refit this model folder on its training rows plus the corrections reviewed for it "
                                        "(autocode review, POST /v1/feedback); DATA, if given, adds rows. Writes over it unless -o."),
    ] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="A text may carry several codes (implied by a multi-label codebook).")] = False,
    codebook: Annotated[
        str | None, typer.Option(help="Built-in codebook id or a YAML/JSON path; without it the codes in the data make a flat codebook.")
    ] = None,
    encoder: Annotated[str, typer.Option(help="Encoder: minilm (ONNX, default), minilm-int8, minilm-torch or use-multilingual.")] = "minilm",
    target_accuracy: Annotated[float, typer.Option(help="Auto-code only where cross-validated accuracy reaches this.")] = 0.95,
) -> None:
    """Train a model on labelled texts: kNN memory, logistic heads and a calibrated review threshold."""
    from autocode.classifiers.codebook import CodebookError, load_codebook
    from autocode.service.tables.formats import TableError, read_table, require_column

    if not 0.0 < target_accuracy < 1.0:
        fail(f"--target-accuracy must be between 0 and 1, got {target_accuracy}")
    if continue_from is not None:
        _continue(continue_from, data, text_column, label_column, out)
        return
    if data is None or text_column is None or label_column is None or out is None:
        fail("give DATA, --text-column, --label-column and --out (or --continue MODEL_DIR to refit a model)")
    try:
        frame = read_table(data)
        require_column(frame, text_column, data)
        require_column(frame, label_column, data)
        book = load_codebook(codebook) if codebook else None
    except (TableError, CodebookError) as exc:
        fail(str(exc))
    multi = multi_label or bool(book and book.multi_label)
    texts, labels, problems = collect_rows(frame, text_column, label_column, book, multi)
    report_problems(problems, len(frame))
    if not texts:
        fail(f"{data}: no usable training rows (all {len(frame)} rows were skipped)")
    if book is None:
        book = derived_codebook([c for codes in labels for c in codes], data, multi)
    fit_and_save(texts, labels, book, multi, encoder, target_accuracy, out)


def collect_rows(
    frame: pd.DataFrame, text_column: str, label_column: str, codebook: Codebook | None, multi_label: bool
) -> tuple[list[str], list[tuple[str, ...]], list[str]]:
    """Usable (text, codes) pairs and one 'row N: reason' line per skipped row (rows count from 1)."""
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    problems: list[str] = []
    for n, (raw_text, raw_codes) in enumerate(zip(frame[text_column], frame[label_column], strict=True), start=1):
        text = _cell(raw_text)
        codes = tuple(dict.fromkeys(part.strip() for part in _cell(raw_codes).split("|") if part.strip()))
        if not text:
            problems.append(f"row {n}: empty text")
        elif not codes:
            problems.append(f"row {n}: no code in {label_column!r}")
        elif len(codes) > 1 and not multi_label:
            problems.append(f"row {n}: {len(codes)} codes ({'|'.join(codes)}) but the model is single-label; pass --multi-label")
        elif codebook is not None and (unknown := [c for c in codes if c not in codebook]):
            problems.append(f"row {n}: code {', '.join(map(repr, unknown))} is not in codebook {codebook.id!r}")
        else:
            texts.append(text)
            labels.append(codes)
    return texts, labels, problems


def _continue(model_dir: Path, data: Path | None, text_column: str | None, label_column: str | None,
              out: Path | None) -> None:
    """Refit a model on what it was trained on, the corrections filed for it, and DATA's rows when given."""
    from autocode.classifiers.model import ModelFormatError, load_model
    from autocode.classifiers.normalise import normalise_key
    from autocode.service.builder import model_target
    from autocode.service.stores.feedback import FeedbackStore
    from autocode.service.tables.formats import TableError, read_table, require_column

    try:
        cascade = load_model(model_dir)
    except (ModelFormatError, FileNotFoundError) as exc:
        fail(str(exc))
    if cascade.knn_ is None:
        fail(f"{model_dir}: this model keeps no training rows to continue from; train it again from its data")
    knn = cascade.knn_
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    # The kNN memory holds the training answers first, then the codebook's own words (label rows), which refit adds again.
    found = cascade.metrics_.get("n_train")
    n_train = found if isinstance(found, int) else len(knn.texts_)
    for text, y in zip(knn.texts_[:n_train], knn.y_[:n_train], strict=True):
        rows[normalise_key(text)] = (text, tuple(c for c, v in zip(knn.classes_, y, strict=True) if v > 0.5))
    trained = len(rows)
    if data is not None:
        if text_column is None or label_column is None:
            fail("with DATA, give --text-column and --label-column too")
        try:
            frame = read_table(data)
            require_column(frame, text_column, data)
            require_column(frame, label_column, data)
        except TableError as exc:
            fail(str(exc))
        texts, labels, problems = collect_rows(frame, text_column, label_column, cascade.codebook, cascade.multi_label)
        report_problems(problems, len(frame))
        rows.update({normalise_key(t): (t, c) for t, c in zip(texts, labels, strict=True)})
    key = model_target(model_dir).key
    corrections = FeedbackStore().for_target(key)
    for row in corrections:  # oldest first: a later correction of the same answer wins, and wins over a training row
        codes = tuple(c for c in row["codes"] if c in cascade.codebook)
        if codes and (cascade.multi_label or len(codes) == 1):
            rows[normalise_key(row["text"])] = (row["text"], codes)
    console.print(f"continuing {model_dir}: {trained} training rows, {len(corrections)} corrections filed under {key}"
                  + (f", {data}" if data is not None else ""))
    texts = [t for t, _ in rows.values()]
    labels = [c for _, c in rows.values()]
    fit_and_save(texts, labels, cascade.codebook, cascade.multi_label, cascade.encoder.key, cascade.target_accuracy,
                  out or model_dir)


def derived_codebook(codes: list[str], data: Path, multi_label: bool) -> Codebook:
    """A flat codebook of the codes found in the data, named after the data file."""
    from autocode.classifiers.codebook import codebook_from_codes

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", data.stem).strip("-._") or "custom"
    return codebook_from_codes(codes, codebook_id=slug, name=f"codes found in {data.name}", multi_label=multi_label)


def _cell(value: Any) -> str:
    """A table cell as stripped text: blanks (None, NaN) are empty, 12.0 from a numeric column is '12'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def report_problems(problems: list[str], total: int) -> None:
    """Print the first bad rows one per line, then how many in all."""
    for line in problems[:MAX_REPORTED]:
        err.print(f"[yellow]skipped[/] {escape(line)}")
    if len(problems) > MAX_REPORTED:
        err.print(f"[yellow]skipped[/] ... and {len(problems) - MAX_REPORTED} more bad rows")
    if problems:
        err.print(f"skipped {len(problems)} bad row(s) of {total}")


def fit_and_save(
    texts: list[str], labels: list[tuple[str, ...]], book: Codebook, multi: bool, encoder_name: str, target: float, out: Path
) -> None:
    """Fit a Cascade on the rows, save it to `out`, print its cross-validated metrics (fails cleanly on bad input)."""
    from autocode.classifiers.cascade import Cascade
    from autocode.classifiers.model import save_model
    from autocode.embeddings import get_encoder

    start = time.perf_counter()
    try:
        enc = get_encoder(encoder_name)
    except ValueError as exc:
        fail(str(exc))
    n_codes = len({c for codes in labels for c in codes})
    console.print(f"training on {len(texts)} rows, {n_codes} codes of {book.id!r} ({'multi' if multi else 'single'}-label), encoder {enc.name}")
    try:
        cascade = Cascade(enc, book, target_accuracy=target, multi_label=multi).fit(texts, labels)
        path = save_model(cascade, out)
    except (ValueError, FileExistsError) as exc:
        fail(str(exc))
    _print_metrics(cascade.metrics_, path, time.perf_counter() - start)


def _print_metrics(metrics: dict[str, Any], path: Path, seconds: float) -> None:
    table = Table("metric", "value", title="cross-validated on the training rows (out-of-fold)")
    if not metrics.get("calibrated"):
        table.add_row("calibrated", f"no: {metrics.get('note', '')}")
    rows = [
        ("accuracy", metrics.get("accuracy")),
        ("macro-F1", metrics.get("macro_f1")),
        ("micro-F1", metrics.get("micro_f1")),
        ("review threshold", metrics.get("threshold")),
        (f"auto-coded share at target {metrics.get('target_accuracy', '')}", metrics.get("coverage")),
        ("accuracy of the auto-coded part", metrics.get("accuracy_at_threshold")),
        ("its lower confidence bound", metrics.get("accuracy_lower_bound")),
        ("guarantee", metrics.get("guarantee")),
        ("method weights", metrics.get("weights")),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, f"{value:.3f}" if isinstance(value, float) else escape(str(value)))
    console.print(table)
    console.print(f"wrote {path} in {seconds:.1f}s")
