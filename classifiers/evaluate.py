"""Evaluation: how well predicted codes agree with gold codes, and how trustworthy the confidences are.

Pure functions over sequences; no file I/O. Every number comes back in a JSON-ready dict
(floats or None, never NaN), so the CLI, the report and the API can show the same figures.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import MultiLabelBinarizer

from autocode.classifiers.thresholds import DEFAULT_TARGET_ACCURACY, accuracy_lower_bound

if TYPE_CHECKING:
    from autocode.classifiers.codebook import Codebook

__all__ = [
    "DEFAULT_TARGET_ACCURACY",
    "canonical_code",
    "evaluate",
    "expected_calibration_error",
    "krippendorff_alpha",
    "krippendorff_alpha_masi",
    "krippendorff_alpha_nominal",
    "masi_distance",
    "split_codes",
    "threshold_curve",
]

# The fixed part of the threshold grid; quantiles of the observed confidences are added to it.
_GRID = (*(round(0.05 * i, 2) for i in range(20)), 0.97, 0.99)
_QUANTILES = 51


def _text(value: Any) -> str:
    """A cell as stripped text; None and NaN (blank spreadsheet cells) become ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a numeric column with blanks arrives as 64.0; the code is "64"
    return str(value).strip()


def split_codes(value: Any) -> tuple[str, ...]:
    """The distinct codes of a '|'-joined cell, sorted, blanks dropped."""
    return tuple(sorted({part.strip() for part in _text(value).split("|") if part.strip()}))


def canonical_code(value: Any, multi_label: bool = False) -> str:
    """One cell as the string compared for exact match: stripped; for multi-label, codes sorted and '|'-joined."""
    if multi_label:
        return "|".join(split_codes(value))
    return _text(value)


def _f(value: Any) -> float | None:
    """A metric as a plain float, or None where it is undefined (NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def masi_distance(a: frozenset[str], b: frozenset[str]) -> float:
    """MASI distance between two code sets (Passonneau 2006): 1 - Jaccard x monotonicity (1, 2/3, 1/3, 0)."""
    if a == b:
        return 0.0
    union = len(a | b)
    overlap = len(a & b)
    if not overlap:
        return 1.0
    monotonicity = 2 / 3 if a <= b or b <= a else 1 / 3
    return 1.0 - (overlap / union) * monotonicity


def _nominal(a: Any, b: Any) -> float:
    return 0.0 if a == b else 1.0


def krippendorff_alpha(
    coders: Sequence[Sequence[Any]], distance: Callable[[Any, Any], float] = _nominal, missing: Callable[[Any], bool] | None = None
) -> float | None:
    """Krippendorff's alpha for any distance; one sequence per coder, a value per unit (None or '' when missing).

    alpha = 1 - D_o / D_e, from the coincidence matrix of pairable values, as in Krippendorff (2011),
    "Computing Krippendorff's Alpha-Reliability". Units coded by fewer than two coders are skipped.
    None when undefined (fewer than two pairable values, or no expected disagreement).
    """
    if not coders:
        return None
    n_units = len(coders[0])
    if any(len(c) != n_units for c in coders):
        raise ValueError("every coder must code the same number of units")
    is_missing = missing or (lambda v: v is None or v == "")
    coincidence: defaultdict[tuple[Any, Any], float] = defaultdict(float)
    for u in range(n_units):
        values = [v for v in (c[u] for c in coders) if not is_missing(v)]
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        # Each ordered pair of values from different coders in the unit adds 1/(m-1).
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_k - 1) if c == k else n_c * n_k
                if pairs:
                    coincidence[(c, k)] += pairs / (m - 1)
    if not coincidence:
        return None
    marginals: defaultdict[Any, float] = defaultdict(float)
    for (c, _k), o in coincidence.items():
        marginals[c] += o
    n = sum(marginals.values())
    observed = sum(o * distance(c, k) for (c, k), o in coincidence.items() if c != k) / n
    expected = sum(n_c * n_k * distance(c, k) for c, n_c in marginals.items() for k, n_k in marginals.items() if c != k)
    expected /= n * (n - 1)
    if expected <= 0:
        return None
    return 1.0 - observed / expected


def krippendorff_alpha_nominal(coders: Sequence[Sequence[Any]]) -> float | None:
    """Krippendorff's alpha for nominal codes (cells as text; '' or None missing)."""
    return krippendorff_alpha([[_text(v) for v in c] for c in coders])


def krippendorff_alpha_masi(coders: Sequence[Sequence[Any]]) -> float | None:
    """Krippendorff's alpha over '|'-joined code sets with MASI distance; an empty cell is missing."""
    return krippendorff_alpha([[frozenset(split_codes(v)) for v in c] for c in coders], masi_distance, missing=lambda v: not v)


def expected_calibration_error(
    confidence: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, n_bins: int = 10
) -> tuple[float, list[dict[str, Any]]]:
    """ECE over equal-width bins of [0, 1] and the reliability bins it was computed from.

    Bin i holds confidences in [i/n, (i+1)/n); the last bin also holds 1.0.
    ECE = sum over bins of (bin count / n) * |bin accuracy - bin mean confidence|.
    """
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    index = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = len(conf)
    ece = 0.0
    bins: list[dict[str, Any]] = []
    for i in range(n_bins):
        mask = index == i
        count = int(mask.sum())
        mean_conf: float | None = None
        acc: float | None = None
        if count:
            mean_conf, acc = float(conf[mask].mean()), float(hit[mask].mean())
            ece += count / total * abs(acc - mean_conf)
        bins.append({"bin_lo": i / n_bins, "bin_hi": (i + 1) / n_bins, "count": count, "mean_confidence": mean_conf, "accuracy": acc})
    return ece, bins


def threshold_curve(confidence: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray) -> list[dict[str, Any]]:
    """Coverage (share with confidence >= t) and accuracy on the covered rows, at each threshold t.

    Thresholds are a fixed grid (0.00..0.95 by 0.05, 0.97, 0.99) plus observed confidence
    quantiles, so the curve has at most ~73 points whatever the data size.
    """
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=bool)
    points = set(_GRID)
    if len(conf):
        # "lower" picks observed values, so each threshold is a real cut between rows.
        quantiles = np.quantile(conf, np.linspace(0.0, 1.0, _QUANTILES), method="lower")
        points.update(round(float(q), 4) for q in quantiles)
    curve: list[dict[str, Any]] = []
    for t in sorted(points):
        covered = conf >= t
        k = int(covered.sum())
        curve.append({
            "threshold": t,
            "coverage": k / len(conf) if len(conf) else 0.0,
            "accuracy": float(hit[covered].mean()) if k else None,
            "count": k,
        })
    return curve


def _at_target(curve: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The curve point with the most coverage whose accuracy reaches the target; None if none does."""
    ok = [p for p in curve if p["accuracy"] is not None and p["accuracy"] >= target]
    if not ok:
        return None
    best = max(ok, key=lambda p: (p["coverage"], -p["threshold"]))
    return {"target": target, "threshold": best["threshold"], "coverage": best["coverage"], "accuracy": best["accuracy"]}


def _paths(codes: Iterable[str], codebook: Codebook) -> list[tuple[str, ...]] | None:
    """The root..code path of each code; None if any code is not in the codebook."""
    out = []
    for code in codes:
        if code not in codebook:
            return None
        out.append(codebook.path(code))
    return out


def _per_level(gold: list[tuple[str, ...]], pred: list[tuple[str, ...]], codebook: Codebook) -> tuple[dict[int, float], dict[int, int]]:
    """Accuracy at each depth of a hierarchical codebook, comparing the sets of ancestors at that depth.

    A row counts at depth d when its gold codes reach depth d (or are unknown to the codebook).
    Any code, gold or predicted, that is not in the codebook makes the row wrong at every level;
    a prediction that stops above depth d (a back-off to a parent) is wrong at d.
    """
    # Depths come from the codes in use, so only path() and `in` are needed of the codebook.
    known = {c for codes in (*gold, *pred) for c in codes if c in codebook}
    max_depth = max((len(codebook.path(c)) for c in known), default=1) - 1
    hits = [0] * (max_depth + 1)
    counts = [0] * (max_depth + 1)
    for g_codes, p_codes in zip(gold, pred, strict=True):
        g_paths = _paths(g_codes, codebook)
        p_paths = _paths(p_codes, codebook)
        for d in range(max_depth + 1):
            if g_paths is None:
                counts[d] += 1
                continue
            g_at = {p[d] for p in g_paths if len(p) > d}
            if not g_at:
                continue
            counts[d] += 1
            if p_paths is not None and g_at == {p[d] for p in p_paths if len(p) > d}:
                hits[d] += 1
    accuracy = {d: hits[d] / counts[d] for d in range(max_depth + 1) if counts[d]}
    support = {d: counts[d] for d in range(max_depth + 1) if counts[d]}
    return accuracy, support


def _confidences(confidence: Sequence[Any], keep: list[int]) -> tuple[np.ndarray, int]:
    """The kept rows' confidences as floats in [0, 1]; a missing one counts as 0 (never auto-covered)."""
    values = np.empty(len(keep), dtype=float)
    missing = 0
    for j, i in enumerate(keep):
        raw = confidence[i]
        value = float("nan") if raw is None or (isinstance(raw, str) and not raw.strip()) else float(raw)
        if math.isnan(value):
            missing += 1
            value = 0.0
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"row {i + 1}: confidence {raw!r} is outside [0, 1]")
        values[j] = value
    return values, missing


def evaluate(
    pred: Sequence[str],
    gold: Sequence[str],
    confidence: Sequence[float] | None = None,
    needs_review: Sequence[bool] | None = None,
    *,
    codebook: Codebook | None = None,
    extra_coders: Sequence[Sequence[str]] = (),
    multi_label: bool = False,
    n_bins: int = 10,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
) -> dict[str, Any]:
    """Agreement, per-label, threshold, calibration and per-level metrics of predicted vs gold codes, as a JSON-ready dict.

    Rows whose gold cell is empty are left out of every metric except Krippendorff's alpha
    (which handles missing values itself) and counted in `n_excluded`. An empty prediction
    is a wrong answer, not a label: it lowers recall but adds no class to macro-F1.
    Multi-label cells are '|'-joined codes; order and repeats do not matter.
    """
    n_rows = len(gold)
    if len(pred) != n_rows:
        raise ValueError(f"pred has {len(pred)} rows but gold has {n_rows}")
    for name, seq in (("confidence", confidence), ("needs_review", needs_review)):
        if seq is not None and len(seq) != n_rows:
            raise ValueError(f"{name} has {len(seq)} rows but gold has {n_rows}")
    for j, coder in enumerate(extra_coders):
        if len(coder) != n_rows:
            raise ValueError(f"extra coder {j + 1} has {len(coder)} rows but gold has {n_rows}")

    gold_c = [canonical_code(v, multi_label) for v in gold]
    pred_c = [canonical_code(v, multi_label) for v in pred]
    keep = [i for i, g in enumerate(gold_c) if g != ""]
    if not keep:
        raise ValueError("no rows with a gold code to evaluate against")
    y_true = [gold_c[i] for i in keep]
    y_pred = [pred_c[i] for i in keep]
    correct = np.array([t == p for t, p in zip(y_true, y_pred, strict=True)], dtype=bool)

    out: dict[str, Any] = {
        "n": len(keep),
        "n_excluded": n_rows - len(keep),
        "multi_label": multi_label,
        "n_empty_pred": sum(1 for p in y_pred if p == ""),
    }

    with warnings.catch_warnings():
        # Kappa is undefined (NaN, with warnings) when both columns use one value; we report None.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)  # sklearn's UndefinedMetricWarning is one
        kappa = cohen_kappa_score(y_true, y_pred)

    if multi_label:
        g_sets = [split_codes(v) for v in y_true]
        p_sets = [split_codes(v) for v in y_pred]
        mlb = MultiLabelBinarizer()
        mlb.fit(g_sets + p_sets)
        yt, yp = mlb.transform(g_sets), mlb.transform(p_sets)
        labels = list(mlb.classes_)
        out["accuracy"] = float(accuracy_score(yt, yp))  # subset (exact-match) accuracy
        out["subset_accuracy"] = out["accuracy"]
        out["macro_f1"] = float(f1_score(yt, yp, average="macro", zero_division=0))
        out["micro_f1"] = float(f1_score(yt, yp, average="micro", zero_division=0))
        # Per answer F1 of its code set, averaged over answers: a row with one of two codes right scores 0.67, not 0.
        out["samples_f1"] = float(f1_score(yt, yp, average="samples", zero_division=0))
        out["hamming_loss"] = float(hamming_loss(yt, yp))
        precision, recall, f1, support = precision_recall_fscore_support(yt, yp, average=None, zero_division=0)
    else:
        g_sets = [(v,) for v in y_true]
        p_sets = [(v,) if v else () for v in y_pred]
        # The label set is every gold code and every non-empty prediction: sklearn's default
        # minus the '' of an empty prediction, which is an error, not a class.
        labels = sorted(set(y_true) | {p for p in y_pred if p})
        out["accuracy"] = float(accuracy_score(y_true, y_pred))
        out["macro_f1"] = float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
        precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out["cohen_kappa"] = _f(kappa)
    out["n_labels"] = len(labels)

    rows = []
    for code, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True):
        entry: dict[str, Any] = {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        if codebook is not None and code in codebook:
            entry["name"] = codebook.get(code).name
        rows.append((code, entry))
    rows.sort(key=lambda item: (-item[1]["support"], item[0]))
    out["per_label"] = dict(rows)

    if extra_coders:
        # Alpha over all rows: a blank gold cell is just one coder's missing value here.
        coders = [gold_c, pred_c] + [[canonical_code(v, multi_label) for v in c] for c in extra_coders]
        out["krippendorff_alpha"] = krippendorff_alpha_nominal(coders)
        out["n_coders"] = len(coders)
    if multi_label:
        # Partial credit between sets (MASI): two coders who share one of two codes half agree.
        sets = [gold_c, pred_c] + [[canonical_code(v, True) for v in c] for c in extra_coders]
        out["krippendorff_alpha_masi"] = krippendorff_alpha_masi(sets)
        out["n_coders"] = len(sets)

    if confidence is not None:
        conf, missing = _confidences(confidence, keep)
        out["n_missing_confidence"] = missing
        curve = threshold_curve(conf, correct)
        out["threshold_curve"] = curve
        out["at_target"] = _at_target(curve, target_accuracy)
        ece, bins = expected_calibration_error(conf, correct, n_bins)
        out["ece"] = ece
        out["reliability"] = bins
        out["mean_confidence"] = float(conf.mean())

    if needs_review is not None:
        review = np.array([bool(needs_review[i]) for i in keep], dtype=bool)
        auto = ~review
        out["auto_coded"] = {
            "n": int(auto.sum()),
            "share": float(auto.mean()),
            "accuracy": float(correct[auto].mean()) if auto.any() else None,
            # What this file shows for certain: the auto-coded accuracy is at least this, with 95% confidence.
            "lower_bound_95": accuracy_lower_bound(int(correct[auto].sum()), int(auto.sum()), 0.05) if auto.any() else None,
        }
        out["review"] = {
            "n": int(review.sum()),
            "share": float(review.mean()),
            "accuracy": float(correct[review].mean()) if review.any() else None,
        }

    if codebook is not None:
        out["unknown_codes"] = {
            "gold": sum(1 for codes in g_sets if any(c not in codebook for c in codes)),
            "pred": sum(1 for codes in p_sets if any(c not in codebook for c in codes)),
        }
        if codebook.is_hierarchical():
            per_level, level_n = _per_level(g_sets, p_sets, codebook)
            out["per_level"] = per_level
            out["per_level_support"] = level_n
    return out
