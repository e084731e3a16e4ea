"""From raw scores to trustworthy decisions: label matrices, CV folds, isotonic calibration, thresholds.

Everything here is plain numpy state (no pickles), so a saved model reads back under any
scikit-learn version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autocode.classifiers.prediction import Evidence, Prediction

DEFAULT_TARGET_ACCURACY = 0.95


def label_matrix(labels: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """A 0/1 float32 matrix [n, len(classes)]: row i marks the codes of labels[i]; unknown codes raise KeyError."""
    column = {code: j for j, code in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for i, codes in enumerate(labels):
        for code in codes:
            out[i, column[code]] = 1.0
    return out


def ordered_classes(labels: Sequence[Sequence[str]], order: Sequence[str] = ()) -> list[str]:
    """The distinct codes in `labels`, in `order` (e.g. codebook order) first, then first-seen order."""
    seen = dict.fromkeys(code for codes in labels for code in codes)
    ranked = [code for code in order if code in seen]
    return ranked + [code for code in seen if code not in set(ranked)]


def assign_folds(groups: np.ndarray, n_splits: int, seed: int = 0) -> np.ndarray:
    """A fold number per row, stratified by `groups`; rows of a group seen only once get -1 (never held out).

    A singleton would leave its class with no training example in the fold that holds it out,
    which says nothing about the final model (trained on it); so it always stays in training.
    """
    rng = np.random.default_rng(seed)
    folds = np.full(len(groups), -1, dtype=np.int64)
    offset = 0
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        if rows.size < 2:
            continue
        rows = rng.permutation(rows)
        # Rotating the start spreads small classes over all folds instead of piling them into fold 0.
        folds[rows] = (np.arange(rows.size) + offset) % n_splits
        offset += rows.size
    return folds


@dataclass
class Calibrator:
    """A monotone map from a raw score to the probability of being right (isotonic, Laplace-smoothed)."""

    x: np.ndarray
    y: np.ndarray
    fitted: bool = True

    @classmethod
    def fit(cls, scores: np.ndarray, correct: np.ndarray) -> Calibrator:
        """Fit on out-of-fold scores and whether each decision was right."""
        scores = np.asarray(scores, dtype=np.float64)
        correct = np.asarray(correct, dtype=np.float64)
        if scores.size < 2 or np.ptp(scores) == 0:
            rate = (correct.sum() + 1) / (correct.size + 2)
            return cls(np.array([0.0, 1.0]), np.array([rate, rate]))
        # Imported here, not at the top: sklearn costs ~1.5 s of every process's start.
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, correct)
        fitted = iso.predict(scores)
        xs, ys = [], []
        # Each isotonic block gets (right + 1) / (n + 2): a block of 12 all-correct items says 0.93, not 1.0.
        for value in np.unique(fitted):
            block = fitted == value
            xs.append(float(scores[block].min()))
            ys.append((correct[block].sum() + 1) / (block.sum() + 2))
            xs.append(float(scores[block].max()))
            ys.append(ys[-1])
        x = np.asarray(xs)
        y = np.maximum.accumulate(np.asarray(ys))
        return cls(x, y)

    @classmethod
    def identity(cls) -> Calibrator:
        """No calibration: the raw score is the confidence (used when there is no labelled data)."""
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]), fitted=False)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores (clipped to the fitted range)."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"x": [float(v) for v in self.x], "y": [float(v) for v in self.y], "fitted": self.fitted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild from to_dict()."""
        return cls(np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64), bool(data.get("fitted", True)))


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> dict[str, float | None]:
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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, stable for large magnitudes."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def proba_to_predictions(
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    method: str,
    multi_label: bool,
    review_threshold: float = 0.5,
    label_threshold: float = 0.5,
    names: Callable[[str], str] | None = None,
    evidence: Callable[[int], tuple[Evidence, ...]] | None = None,
) -> list[Prediction]:
    """Turn uncalibrated per-class probabilities into Predictions (used by each method on its own)."""
    out = []
    for i, row in enumerate(proba):
        order = np.argsort(-row, kind="stable")
        if multi_label:
            chosen = [int(j) for j in order if row[j] >= label_threshold] or [int(order[0])]
            decisions = np.where(row >= label_threshold, row, 1.0 - row)
            confidence = float(np.prod(decisions)) if row[chosen[0]] >= label_threshold else float(row[order[0]])
        else:
            chosen = [int(order[0])]
            confidence = float(row[order[0]])
        codes = tuple(classes[j] for j in chosen)
        out.append(
            Prediction(
                codes=codes,
                confidence=confidence,
                method=method,
                needs_review=confidence < review_threshold,
                evidence=evidence(i) if evidence else (),
                labels=tuple(names(c) for c in codes) if names else (),
                scores={classes[j]: round(float(row[j]), 4) for j in order[:5]},
            )
        )
    return out
