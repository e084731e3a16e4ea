"""How out-of-fold probabilities are scored: the score that picks hyper-parameters and blend weights, and F1s."""

from __future__ import annotations

import numpy as np

_EPS = 1e-9


def selection_score(proba: np.ndarray, truth: np.ndarray, multi_label: bool) -> tuple[float, float]:
    """(accuracy or micro-F1, minus log-loss) of probabilities against a 0/1 truth matrix: higher is better; the second breaks ties."""
    p = np.clip(proba, _EPS, 1 - _EPS)
    if multi_label:
        loss = -np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p))
        return micro_f1(proba >= 0.5, truth > 0), -float(loss)
    top = proba.argmax(axis=1)
    right = truth[np.arange(len(top)), top] > 0
    loss = -np.mean(np.log((p * truth).sum(axis=1) / np.maximum(truth.sum(axis=1), 1)))
    return float(right.mean()), -float(loss)


def micro_f1(chosen: np.ndarray, truth: np.ndarray) -> float:
    """Micro-averaged F1 of boolean label matrices."""
    tp = float(np.sum(chosen & truth))
    denominator = float(chosen.sum() + truth.sum())
    return 2 * tp / denominator if denominator else 1.0


def macro_f1(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> float:
    """Macro-averaged F1 over the classes present in the truth."""
    scores = []
    for j in np.unique(truth):
        tp = np.sum((predicted == j) & (truth == j))
        denominator = np.sum(predicted == j) + np.sum(truth == j)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores)) if scores else 0.0
