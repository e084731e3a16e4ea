"""Which codes a text gets: the top code (single-label) or every code at or above the cut (multi-label).

The multi-label cut is chosen on out-of-fold rows; the raw score of a set is the probability that
the whole set is right (each label in it present, each label outside it absent).
"""

from __future__ import annotations

import numpy as np

from autocode.classifiers.scoring import micro_f1


def choose_labels(proba: np.ndarray, cut: float) -> np.ndarray:
    """The labels at or above the cut, as a boolean matrix."""
    return proba >= cut


def best_cut(proba: np.ndarray, truth: np.ndarray) -> tuple[float, tuple[float, float]]:
    """For multi-label: the per-label probability cut with the best (micro-F1, exact-set rate) on out-of-fold rows."""
    best = (0.5, (-1.0, -1.0))
    for cut in np.round(np.arange(0.2, 0.75, 0.05), 2):
        chosen = choose_labels(proba, float(cut))
        exact = float(np.mean(np.all(chosen == (truth > 0), axis=1)))
        score = (micro_f1(chosen, truth > 0), exact)
        if score > best[1]:
            best = (float(cut), score)
    return best


def choose_codes(proba: np.ndarray, multi_label: bool, cut: float) -> tuple[np.ndarray, np.ndarray]:
    """(chosen codes as a boolean matrix, raw score of that choice) for blended probabilities."""
    if multi_label:
        chosen = choose_labels(proba, cut)
        decided = np.where(chosen, proba, 1.0 - proba)
        return chosen, np.prod(np.clip(decided, 0.0, 1.0), axis=1)
    chosen = np.zeros_like(proba, dtype=bool)
    top = proba.argmax(axis=1)
    chosen[np.arange(len(top)), top] = True
    return chosen, proba[np.arange(len(top)), top]
