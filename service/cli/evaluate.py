"""`autocode evaluate`: compare a coded column with gold codes and say how far to trust it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from autocode.service.cli.common import console, err, fail

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", ""}
_SHOWN_THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def _stem(pred_column: str) -> str:
    """The column stem that `autocode code` used: 'support_code' -> 'support'."""
    return pred_column[: -len("_code")] if pred_column.endswith("_code") else pred_column


def _cell(value: Any) -> str:
    """A cell as text; blank, None and NaN become ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # numeric code columns with blanks come back from pandas as 64.0
    return str(value).strip()


def _parse_confidence(values: list[Any], column: str) -> list[float]:
    """Floats in [0, 1]; a blank is NaN (counted as missing by evaluate); anything else is an error naming the row."""
    out: list[float] = []
    for i, raw in enumerate(values, start=1):
        text = _cell(raw)
        if text == "":
            out.append(float("nan"))
            continue
        try:
            value = float(text)
        except ValueError:
            fail(f"column {column!r}, row {i}: confidence {text!r} is not a number")
        if not 0.0 <= value <= 1.0:
            fail(f"column {column!r}, row {i}: confidence {value} is outside [0, 1]")
        out.append(value)
    return out


def _parse_flags(values: list[Any], column: str) -> list[bool]:
    """True/False from bools or the texts spreadsheets use (true/false, yes/no, 1/0); a blank is False."""
    out: list[bool] = []
    for i, raw in enumerate(values, start=1):
        if isinstance(raw, bool):
            out.append(raw)
            continue
        text = _cell(raw).lower()
        if text in _TRUE:
            out.append(True)
        elif text in _FALSE:
            out.append(False)
        else:
            fail(f"column {column!r}, row {i}: {text!r} is not true/false")
    return out


def _optional_column(frame: Any, given: str | None, default: str, path: Path) -> str | None:
    """The column asked for (which must exist), else the default name when the file has it, else None."""
    from autocode.service.tables.formats import require_column

    if given is not None:
        require_column(frame, given, path)
        return given
    return default if default in frame.columns else None


def evaluate(
    coded: Annotated[Path, typer.Argument(help="Coded table with predicted and gold codes: .csv, .tsv, .xlsx, .jsonl or .parquet.")],
    pred_column: Annotated[str, typer.Option("--pred-column", "-p", help="Column of predicted codes, e.g. support_code.")],
    gold_column: Annotated[str, typer.Option("--gold-column", "-g", help="Column of gold (human) codes; blank rows are left out.")],
    coder_column: Annotated[list[str] | None, typer.Option(
        "--coder-column", help="Another coder's column (repeatable); adds Krippendorff's alpha over all coders.")] = None,
    confidence_column: Annotated[str | None, typer.Option(help="Column of confidences in [0, 1]. Default: <stem>_confidence if present.")] = None,
    needs_review_column: Annotated[str | None, typer.Option(help="Column of review flags. Default: <stem>_needs_review if present.")] = None,
    codebook: Annotated[str | None, typer.Option(
        help="Built-in codebook id or YAML/JSON path; adds per-level accuracy for hierarchies and label names.")] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="Cells hold '|'-joined codes; implied by a multi-label codebook.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write PNG plots, metrics.json and a self-contained index.html to this folder.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON instead of tables.")] = False,
    model: Annotated[Path | None, typer.Option(
        help="The model folder that coded the file: reports what it guaranteed and whether this file kept it.")] = None,
    gold_file: Annotated[Path | None, typer.Option(
        help="Read --gold-column and --coder-column from this file, row by row: another reviewer's export of the same "
             "file (`autocode review --separate`), for Cohen's kappa between two people.")] = None,
) -> None:
    """Score predicted codes against gold codes: accuracy, macro-F1, κ/α, coverage at each threshold, calibration."""
    from autocode.classifiers.codebook import CodebookError, load_codebook
    from autocode.classifiers.evaluate import evaluate as compute_metrics
    from autocode.service.tables.formats import TableError, read_table, require_column

    try:
        frame = read_table(coded)
        require_column(frame, pred_column, coded)
        gold_frame, gold_path = (read_table(gold_file), gold_file) if gold_file is not None else (frame, coded)
        for column in [gold_column, *(coder_column or [])]:
            require_column(gold_frame, column, gold_path)
        if len(gold_frame) != len(frame):
            fail(f"{gold_path} has {len(gold_frame)} rows and {coded} {len(frame)}: --gold-file must hold the same rows, "
                 "in the same order")
        stem = _stem(pred_column)
        conf_col = _optional_column(frame, confidence_column, f"{stem}_confidence", coded)
        review_col = _optional_column(frame, needs_review_column, f"{stem}_needs_review", coded)
        cb = load_codebook(codebook) if codebook else None
    except (TableError, CodebookError, OSError, ValueError) as exc:
        fail(str(exc))
    if cb is not None and cb.multi_label:
        multi_label = True

    pred = [_cell(v) for v in frame[pred_column].tolist()]
    gold = [_cell(v) for v in gold_frame[gold_column].tolist()]
    confidence = _parse_confidence(frame[conf_col].tolist(), conf_col) if conf_col else None
    needs_review = _parse_flags(frame[review_col].tolist(), review_col) if review_col else None
    extra = [[_cell(v) for v in gold_frame[c].tolist()] for c in coder_column or []]
    try:
        metrics = compute_metrics(pred, gold, confidence, needs_review, codebook=cb, extra_coders=extra, multi_label=multi_label)
    except ValueError as exc:
        fail(f"{coded}: {exc}")
    metrics["columns"] = {"pred": pred_column, "gold": gold_column, "confidence": conf_col, "needs_review": review_col,
                          "coders": list(coder_column or [])}
    if cb is not None:
        metrics["codebook"] = {"id": cb.id, "version": cb.version}
    if model is not None:
        metrics["promise"] = _promise(model, metrics)

    written: list[Path] = []
    if report is not None:
        from autocode.service.report import write_report

        try:
            written = write_report(metrics, pred, gold, report)
        except OSError as exc:
            fail(f"cannot write the report to {report}: {exc}")

    if json_output:
        typer.echo(json.dumps(metrics, indent=2, ensure_ascii=False, allow_nan=False))
        if written and report is not None:  # written implies a report folder; this says so to mypy
            err.print(f"wrote report to {report / 'index.html'}")
        return
    _print_tables(metrics)
    if written and report is not None:
        console.print(f"wrote report: {report / 'index.html'} ({len(written)} files)")


def _promise(model: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """What the model folder promised (its guarantee, on how many rows) and whether this file's auto-coded part kept it."""
    from autocode.classifiers.model import ModelFormatError, read_manifest

    try:
        trained = read_manifest(model).get("metrics", {})
    except ModelFormatError as exc:
        fail(str(exc))
    target = trained.get("target_accuracy")
    auto = metrics.get("auto_coded") or {}
    kept = None if target is None or auto.get("accuracy") is None else bool(auto["accuracy"] >= target)
    return {"guarantee": trained.get("guarantee"), "guaranteed": trained.get("guaranteed"), "target": target,
            "level": trained.get("guarantee_level"), "rows": trained.get("n_validation"),
            "lower_bound": trained.get("accuracy_lower_bound"), "kept": kept}


def _print_tables(metrics: dict[str, Any]) -> None:
    """Headline metrics, the threshold sweep at a few round thresholds, and the largest labels."""
    from autocode.service.report import summary_rows

    summary = Table("metric", "value", title="evaluation")
    for name, value in summary_rows(metrics):
        summary.add_row(escape(name), escape(value))
    console.print(summary)

    curve = {p["threshold"]: p for p in metrics.get("threshold_curve") or []}
    if curve:
        sweep = Table("threshold", "coverage", "accuracy", "rows", title="coverage and accuracy at a threshold")
        for t in _SHOWN_THRESHOLDS:
            p = curve.get(t)
            if p:
                acc = "–" if p["accuracy"] is None else f"{p['accuracy']:.3f}"
                sweep.add_row(f"{t:g}", f"{p['coverage']:.3f}", acc, str(p["count"]))
        console.print(sweep)

    per_label = metrics.get("per_label") or {}
    if per_label:
        shown = 15
        labels = Table("code", "name", "support", "precision", "recall", "F1",
                       title=f"per label (largest {min(shown, len(per_label))} of {len(per_label)})")
        for code, row in list(per_label.items())[:shown]:
            # Codes and names are data: escaped so '[...]' in them is shown, not read as markup.
            labels.add_row(escape(code), escape(str(row.get("name", ""))[:40]), str(row["support"]), f"{row['precision']:.3f}",
                           f"{row['recall']:.3f}", f"{row['f1']:.3f}")
        console.print(labels)
