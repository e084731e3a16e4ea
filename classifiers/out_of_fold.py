"""Cross-validation on the training rows: stratified folds."""

from __future__ import annotations

import numpy as np


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
