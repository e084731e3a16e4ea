"""The evaluation report: PNG plots, metrics.json and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autocode.classifiers.evaluate import DEFAULT_TARGET_ACCURACY, canonical_code
from autocode.embeddings.durable import fsync_dir, write_bytes_atomic

__all__ = ["CONFUSION_PNG", "COVERAGE_PNG", "RELIABILITY_PNG", "summary_rows", "write_report"]

CONFUSION_PNG = "confusion_matrix.png"
COVERAGE_PNG = "coverage_accuracy.png"
RELIABILITY_PNG = "reliability.png"
_OTHER = "(other)"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write bytes so the file appears whole or not at all."""
    # 0o644: a report is meant to be shared; the folder is fsynced once, after the last file.
    write_bytes_atomic(path, data, mode=0o644, sync_folder=False)




def _new_figure(width: float, height: float) -> Any:
    """A figure on the Agg canvas, without pyplot, so no global state and no display is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _confusion_png(pred: Sequence[Any], gold: Sequence[Any], multi_label: bool, top_labels: int, names: dict[str, str]) -> bytes:
    """Row-normalised confusion matrix of the most frequent gold labels; other predictions in one column."""
    pairs = [(canonical_code(g, multi_label), canonical_code(p, multi_label)) for g, p in zip(gold, pred, strict=True)]
    pairs = [(g, p) for g, p in pairs if g]
    top = [code for code, _ in sorted(Counter(g for g, _ in pairs).items(), key=lambda kv: (-kv[1], kv[0]))[:top_labels]]
    index = {code: i for i, code in enumerate(top)}
    columns = [*top, _OTHER]
    counts = np.zeros((len(top), len(columns)), dtype=float)
    for g, p in pairs:
        if g in index:
            counts[index[g], index.get(p, len(top))] += 1
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)

    def tick(code: str) -> str:
        return _short(f"{code} {names[code]}" if code in names and names[code] != code else code)

    size = max(5.0, 0.42 * len(columns) + 3.2)
    fig = _new_figure(size + 1.0, size)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), [tick(c) for c in columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(top)), [f"{tick(c)} (n={int(rows[i, 0])})" for i, c in enumerate(top)], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    what = "label sets" if multi_label else "labels"
    ax.set_title(f"Confusion matrix, top {len(top)} gold {what} (share of each gold row)", fontsize=10)
    if len(columns) <= 25:
        for i in range(share.shape[0]):
            for j in range(share.shape[1]):
                if share[i, j] >= 0.005:  # a "0.00" label would only be noise
                    ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of gold row")
    return _png(fig)


def _coverage_png(metrics: dict[str, Any]) -> bytes:
    """Accuracy on the auto-coded rows against the share auto-coded, as the threshold rises."""
    curve = [p for p in metrics.get("threshold_curve") or [] if p["accuracy"] is not None]
    target = (metrics.get("at_target") or {}).get("target", DEFAULT_TARGET_ACCURACY)
    fig = _new_figure(6.4, 4.6)
    ax = fig.add_subplot()
    if curve:
        cov = [p["coverage"] for p in curve]
        acc = [p["accuracy"] for p in curve]
        ax.plot(cov, acc, marker="o", markersize=3, linewidth=1.5, label="threshold sweep")
        for p in curve:
            if p["threshold"] in (0.5, 0.7, 0.8, 0.9, 0.95):
                ax.annotate(f"t={p['threshold']:g}", (p["coverage"], p["accuracy"]), textcoords="offset points",
                            xytext=(6, 5), fontsize=7, color="dimgray")  # above-right: the curve falls to the right
    else:
        ax.text(0.5, 0.5, "no confidence column", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(target, color="tab:red", linestyle="--", linewidth=1, label=f"target accuracy {target:.0%}")
    at = metrics.get("at_target")
    if at:
        ax.plot([at["coverage"]], [at["accuracy"]], marker="*", markersize=13, color="tab:red", linestyle="none",
                label=f"threshold {at['threshold']:g}: coverage {at['coverage']:.0%}")
    if "accuracy" in metrics:
        ax.plot([1.0], [metrics["accuracy"]], marker="s", color="gray", linestyle="none", label="everything auto-coded")
    ax.set_xlim(0, 1.02)
    # Start the axis a little below the lowest accuracy so the differences near the target are visible.
    low = min([target, *(p["accuracy"] for p in curve)])
    ax.set_ylim(max(0.0, math.floor((low - 0.05) * 10) / 10), 1.02)
    ax.set_xlabel("coverage (share of rows with confidence ≥ threshold)")
    ax.set_ylabel("accuracy on covered rows")
    ax.set_title("Coverage vs accuracy", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def _reliability_png(metrics: dict[str, Any]) -> bytes:
    """Accuracy per confidence bin against the diagonal of perfect calibration; bar width shows the bin."""
    bins = metrics.get("reliability") or []
    fig = _new_figure(6.4, 5.2)
    ax, hist = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfect calibration")
    full = [b for b in bins if b["count"]]
    if full:
        width = bins[0]["bin_hi"] - bins[0]["bin_lo"]
        ax.bar([b["bin_lo"] for b in full], [b["accuracy"] for b in full], width=width, align="edge",
               edgecolor="tab:blue", color="tab:blue", alpha=0.55, label="accuracy in bin")
        ax.plot([b["mean_confidence"] for b in full], [b["accuracy"] for b in full], marker="o", color="tab:orange",
                linestyle="none", markersize=4, label="(mean confidence, accuracy)")
        hist.bar([b["bin_lo"] for b in bins], [b["count"] for b in bins], width=width, align="edge", color="gray")
    else:
        ax.text(0.5, 0.5, "no confidence column", ha="center", va="center", transform=ax.transAxes)
    ece = metrics.get("ece")
    ax.set_title("Reliability diagram" + (f" (ECE {ece:.3f})" if ece is not None else ""), fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    hist.set_xlabel("confidence")
    hist.set_ylabel("rows")
    hist.grid(alpha=0.3)
    return _png(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def summary_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """The headline metrics as (name, formatted value) pairs, shared by the HTML page and the terminal."""
    rows: list[tuple[str, str]] = [("rows evaluated", _fmt(metrics.get("n"))), ("rows without gold (excluded)", _fmt(metrics.get("n_excluded")))]
    multi = metrics.get("multi_label")
    rows.append(("exact-match (subset) accuracy" if multi else "accuracy", _fmt(metrics.get("accuracy"))))
    rows.append(("macro-F1", _fmt(metrics.get("macro_f1"))))
    if multi:
        rows += [("micro-F1", _fmt(metrics.get("micro_f1"))), ("sample-based F1", _fmt(metrics.get("samples_f1"))),
                 ("Hamming loss", _fmt(metrics.get("hamming_loss")))]
    rows.append(("Cohen's κ (pred vs gold)", _fmt(metrics.get("cohen_kappa"))))
    if "krippendorff_alpha" in metrics:
        rows.append((f"Krippendorff's α (nominal, {metrics.get('n_coders')} coders)", _fmt(metrics["krippendorff_alpha"])))
    if "krippendorff_alpha_masi" in metrics:
        rows.append((f"Krippendorff's α (MASI, {metrics.get('n_coders')} coders)", _fmt(metrics["krippendorff_alpha_masi"])))
    if "ece" in metrics:
        rows.append(("expected calibration error", _fmt(metrics["ece"])))
        rows.append(("mean confidence", _fmt(metrics.get("mean_confidence"))))
    at = metrics.get("at_target")
    if "threshold_curve" in metrics:
        target = (at or {}).get("target", DEFAULT_TARGET_ACCURACY)
        value = (f"threshold {at['threshold']:g}: coverage {at['coverage']:.1%}, accuracy {at['accuracy']:.1%}"
                 if at else "not reached at any threshold")
        rows.append((f"{target:.0%} accuracy target", value))
    for key, name in (("auto_coded", "auto-coded"), ("review", "sent to review")):
        part = metrics.get(key)
        if part:
            rows.append((f"{name}: share / accuracy", f"{part['share']:.1%} / {_fmt(part['accuracy'])}"))
            if part.get("lower_bound_95") is not None:
                rows.append((f"{name}: accuracy at least (95% confidence)", _fmt(part["lower_bound_95"])))
    promise = metrics.get("promise")
    if promise:
        rows.append(("the model's guarantee", str(promise.get("guarantee") or "none recorded (a model from before guarantees)")))
        if promise.get("kept") is not None:
            rows.append(("kept on this file", "yes" if promise["kept"] else f"no: auto-coded accuracy below {promise['target']:.0%}"))
    for depth, acc in (metrics.get("per_level") or {}).items():
        rows.append((f"accuracy at level {depth}", _fmt(acc)))
    if metrics.get("n_empty_pred"):
        rows.append(("rows with no prediction", _fmt(metrics["n_empty_pred"])))
    unknown = metrics.get("unknown_codes")
    if unknown and (unknown["gold"] or unknown["pred"]):
        rows.append(("rows with codes not in the codebook (gold / pred)", f"{unknown['gold']} / {unknown['pred']}"))
    return rows


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.9rem}td,th{padding:.25rem .7rem;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f6f6}
figure{margin:1rem 0}img{max-width:100%;height:auto;border:1px solid #eee}figcaption{color:#666;font-size:.85rem}
"""


def _html(metrics: dict[str, Any], images: list[tuple[str, str, bytes]]) -> str:
    """The whole report as one HTML string; images are inline data URIs, every label text escaped."""
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>autocode evaluation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>autocode evaluation report</h1>",
        "<h2>Summary</h2><table>",
    ]
    for name, value in summary_rows(metrics):
        parts.append(f"<tr><th>{e(name)}</th><td class=num>{e(value)}</td></tr>")
    parts.append("</table>")
    for title, caption, data in images:
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(f"<h2>{e(title)}</h2><figure><img alt=\"{e(title)}\" src=\"{uri}\"><figcaption>{e(caption)}</figcaption></figure>")
    per_label = metrics.get("per_label") or {}
    if per_label:
        parts.append("<h2>Per label</h2><table><tr><th>code</th><th>name</th><th class=num>support</th>"
                     "<th class=num>precision</th><th class=num>recall</th><th class=num>F1</th></tr>")
        for code, row in sorted(per_label.items(), key=lambda kv: (-kv[1]["support"], kv[0])):
            parts.append(
                f"<tr><td>{e(code)}</td><td>{e(row.get('name', ''))}</td><td class=num>{row['support']}</td>"
                f"<td class=num>{row['precision']:.3f}</td><td class=num>{row['recall']:.3f}</td><td class=num>{row['f1']:.3f}</td></tr>"
            )
        parts.append("</table>")
    curve = metrics.get("threshold_curve") or []
    if curve:
        parts.append("<h2>Threshold sweep</h2><table><tr><th class=num>threshold</th><th class=num>coverage</th>"
                     "<th class=num>accuracy</th><th class=num>rows</th></tr>")
        for p in curve:
            parts.append(f"<tr><td class=num>{p['threshold']:g}</td><td class=num>{p['coverage']:.3f}</td>"
                         f"<td class=num>{_fmt(p['accuracy'])}</td><td class=num>{p.get('count', '')}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(metrics: dict[str, Any], pred: Sequence[Any], gold: Sequence[Any], out_dir: Path, *, top_labels: int = 20) -> list[Path]:
    """Write the confusion, coverage and reliability PNGs, metrics.json and a self-contained index.html; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    multi = bool(metrics.get("multi_label"))
    names = {code: row["name"] for code, row in (metrics.get("per_label") or {}).items() if "name" in row}
    images = [
        ("Confusion matrix", f"Rows: the most frequent gold codes (up to {top_labels}); each row sums to 1. "
         f"'{_OTHER}' collects predictions outside those codes, including none.",
         _confusion_png(pred, gold, multi, top_labels, names), CONFUSION_PNG),
        ("Coverage vs accuracy", "Each point is a confidence threshold: rows at or above it are auto-coded, the rest go to review.",
         _coverage_png(metrics), COVERAGE_PNG),
        ("Reliability diagram", "Well-calibrated confidences put the bars on the diagonal; the lower panel shows how many rows fall in each bin.",
         _reliability_png(metrics), RELIABILITY_PNG),
    ]
    written: list[Path] = []
    for _title, _caption, data, name in images:
        path = out_dir / name
        _write_atomic(path, data)
        written.append(path)
    metrics_path = out_dir / "metrics.json"
    _write_atomic(metrics_path, (json.dumps(metrics, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))
    written.append(metrics_path)
    index = out_dir / "index.html"
    _write_atomic(index, _html(metrics, [(t, c, d) for t, c, d, _ in images]).encode("utf-8"))
    written.append(index)
    fsync_dir(out_dir)
    return written
