"""Where the review threshold is chosen: the lowest confidence whose decisions reach the target accuracy.

Also the other two reasons the learned blend sends a text to review: the novelty floor (a text
unlike every training example) and, with no labelled data, the zero-shot threshold.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from autocode.classifiers.calibration import MIN_CALIBRATION_ROWS, Calibrator

DEFAULT_TARGET_ACCURACY = 0.95
# The novelty floor never exceeds this cosine similarity (MiniLM puts unrelated sentences at ~0-0.3).
OOD_FLOOR_CAP = 0.4


class ThresholdChoice(TypedDict):
    """choose_threshold's answer: the cut, the share of rows at or above it, and their accuracy (None if none reach it)."""

    threshold: float
    coverage: float
    accuracy: float | None


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> ThresholdChoice:
    """The smallest t whose covered rows (confidence >= t) are right at least `target` of the time.

    Returns threshold, coverage and accuracy at it; threshold 1.0 with coverage 0 when no t reaches
    the target (calibrated confidences stay below 1, so then everything goes to review).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return {"threshold": 1.0, "coverage": 0.0, "accuracy": None}
    order = np.argsort(-confidence, kind="stable")
    conf, right = confidence[order], correct[order]
    accuracy = np.cumsum(right) / np.arange(1, right.size + 1)
    # Only cut between distinct confidences: rows tied with the cut are all in or all out.
    last_of_value = np.append(conf[1:] != conf[:-1], True)
    ok = np.flatnonzero(last_of_value & (accuracy >= target))
    if ok.size == 0:
        return {"threshold": 1.0, "coverage": 0.0, "accuracy": None}
    i = int(ok.max())
    return {"threshold": float(conf[i]), "coverage": (i + 1) / conf.size, "accuracy": float(accuracy[i])}


def calibrated_threshold(raw: np.ndarray, right: np.ndarray, target: float) -> tuple[Calibrator, ThresholdChoice]:
    """A calibrator fitted on out-of-fold raw scores, and choose_threshold on its calibrated output."""
    calibrator = Calibrator.fit(raw, right)
    return calibrator, choose_threshold(calibrator(raw), right, target)


def uncalibrated_threshold(target: float) -> float:
    """The threshold on a raw blend probability when too few rows could be held out to calibrate it."""
    return max(target, 0.5)


def novelty_floor(nearest: np.ndarray) -> float:
    """The similarity below which a text is novel, from held-out rows' similarity to their nearest training text.

    A text less like any training example than almost every held-out row goes to review whatever its
    score says, since the calibration never saw anything like it. Capped, so that tight training data
    (near-paraphrases) does not send every new wording to review.
    """
    return min(float(np.quantile(nearest, 0.01)) - 0.05, OOD_FLOOR_CAP)


def threshold_from_examples(
    confidence: np.ndarray, correct: np.ndarray, n_labels: int, fixed: float, target: float
) -> tuple[float, ThresholdChoice | None]:
    """The zero-shot review threshold and, when the codebook's examples could set it, choose_threshold's result.

    The codebook's own examples are the only labelled data there is: with a few per label, their
    leave-one-out confidences set the threshold (never below the fixed default); otherwise it stays fixed.
    """
    if len(confidence) < max(MIN_CALIBRATION_ROWS, 2 * n_labels):
        return fixed, None
    chosen = choose_threshold(confidence, correct, target)
    return max(fixed, float(chosen["threshold"])), chosen
