"""Hierarchy back-off: when the fine code is uncertain, code the deepest ancestor that is certain enough.

Each ancestor level gets its own calibrator and review threshold, fitted on the out-of-fold blend
with class probabilities summed into their ancestors. A level is a plain dict (depth, codes, member,
calibrator, threshold) because model.py stores it as JSON plus one array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autocode.classifiers.calibration import MIN_CALIBRATION_ROWS
from autocode.classifiers.codebook import Codebook
from autocode.classifiers.thresholds import calibrated_threshold


def aggregate(proba: np.ndarray, member: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum class probabilities into their ancestors: [n, L] -> [n, n_groups]; member[j] = -1 drops class j."""
    out = np.zeros((proba.shape[0], n_groups))
    keep = member >= 0
    np.add.at(out.T, member[keep], proba[:, keep].T)
    return out


def fit_levels(
    codebook: Codebook, classes: Sequence[str], blend: np.ndarray, truth_codes: np.ndarray, target: float
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """For each ancestor level, a calibrator and threshold for the best ancestor's summed probability, deepest first; and their metrics."""
    paths = [codebook.path(c) for c in classes]
    deepest = max(len(p) for p in paths) - 1
    levels = []
    metrics: dict[str, dict[str, float]] = {}
    for depth in range(deepest):
        codes = list(dict.fromkeys(p[depth] for p in paths if len(p) > depth))
        member = np.array([codes.index(p[depth]) if len(p) > depth else -1 for p in paths])
        aggregated = aggregate(blend, member, len(codes))
        rows = member[truth_codes] >= 0
        if rows.sum() < MIN_CALIBRATION_ROWS:
            continue
        predicted = aggregated[rows].argmax(axis=1)
        right = predicted == member[truth_codes][rows]
        # A backed-off code stays in review, so its cut only chooses which code to show: no guarantee needed.
        calibrator, at = calibrated_threshold(aggregated[rows].max(axis=1), right, target, level=None)
        levels.append({"depth": depth, "codes": codes, "member": member, "calibrator": calibrator, "threshold": float(at["threshold"])})
        metrics[str(depth)] = {
            "accuracy": round(float(right.mean()), 4),
            "threshold": round(float(at["threshold"]), 4),
            "coverage": round(float(at["coverage"]), 4),
        }
    return sorted(levels, key=lambda level: -level["depth"]), metrics


def back_off(levels: Sequence[dict[str, Any]], proba: np.ndarray) -> tuple[tuple[str, ...], float, str] | None:
    """(codes, confidence, reason) of the deepest ancestor whose calibrated confidence clears its level's threshold, if any."""
    for level in levels:
        aggregated = aggregate(proba[None, :], level["member"], len(level["codes"]))[0]
        best = int(aggregated.argmax())
        conf = float(level["calibrator"](aggregated[best : best + 1])[0])
        if conf >= level["threshold"]:
            code = level["codes"][best]
            return (code,), conf, f"the finer code is uncertain; backed off to {code!r} (level {level['depth']})"
    return None
