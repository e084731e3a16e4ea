"""Cross-validation on the training rows: stratified folds, and each blend method's out-of-fold probabilities.

Every hyper-parameter, the blend weights and the calibration are chosen on out-of-fold rows: each
held-out row is scored by components fitted without it, as a new text will be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from autocode.classifiers.methods.component import BlendMethod, Fold, Rows, Settings
from autocode.classifiers.methods.knn import top_k
from autocode.classifiers.scoring import selection_score

# Above this many training rows, costly methods rank their grid on one fold and CV uses 3 folds: keeps a 10k-row fit in minutes.
LARGE_TRAINING_SET = 3000


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold results over the held-out rows (rows with a fold), in row order."""

    proba: dict[str, np.ndarray]  # each method's probabilities at its chosen hyper-parameters
    params: dict[str, dict[str, Any]]  # each method's chosen hyper-parameters
    nearest: np.ndarray  # each row's best similarity to a training text other than itself


def cv_splits(n_rows: int, n_splits: int) -> tuple[int, bool]:
    """(folds to use, whether the set counts as large) for n_rows training rows and the asked-for n_splits."""
    large = n_rows > LARGE_TRAINING_SET
    return (3 if large else n_splits), large


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


def stratify_groups(y: np.ndarray, multi_label: bool) -> np.ndarray:
    """The class each row is stratified by: its code, or for multi-label its rarest code."""
    if not multi_label:
        return y.argmax(axis=1)
    freq = y.sum(axis=0)
    return np.where(y > 0, freq[None, :], np.inf).argmin(axis=1)


def nearest_other(scores: np.ndarray) -> np.ndarray:
    """Each row's best similarity to a training text that is not the same text (exact copies are the alias's job)."""
    other = np.where(scores < 1.0 - 1e-4, scores, -np.inf)
    best = other.max(axis=1)
    return np.where(np.isfinite(best), best, 1.0)


def out_of_fold(
    methods: Mapping[str, type[BlendMethod]],
    rows: Rows,
    folds: np.ndarray,
    n_splits: int,
    settings: Settings,
    *,
    search_depth: int,
    large: bool,
) -> OutOfFold:
    """Each method's out-of-fold probabilities at its best grid entry, and each held-out row's nearest similarity.

    Rows with fold -1 only ever train. One neighbour search per fold (search_depth deep) serves the
    novelty floor and every method that wants neighbours.
    """
    held = np.flatnonzero(folds >= 0)
    position = np.full(len(folds), -1)
    position[held] = np.arange(held.size)
    n_labels = rows.y.shape[1]
    grids = {name: method.grid(settings) for name, method in methods.items()}
    proba = {name: [np.zeros((held.size, n_labels)) for _ in grid] for name, grid in grids.items()}
    active = {name: list(range(len(grid))) for name, grid in grids.items()}
    narrowed: set[str] = set()
    nearest = np.zeros(held.size)
    for f in range(n_splits):
        train, test = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        if test.size == 0:
            continue
        at = position[test]
        scores, found = top_k(rows.x[test], rows.x[train], min(search_depth, train.size))
        nearest[at] = nearest_other(scores)
        fold = Fold(
            train=Rows(rows.x[train], rows.y[train], [rows.texts[i] for i in train], rows.classes, rows.multi_label),
            x_test=rows.x[test],
            texts_test=[rows.texts[i] for i in test],
            neighbours=(scores, found),
        )
        for name, method in methods.items():
            tried = method.fold_proba(fold, [grids[name][i] for i in active[name]])
            for i, p in zip(active[name], tried, strict=True):
                proba[name][i][at] = p
            if large and method.costly and name not in narrowed:
                # On a large set one fold is enough to rank the grid; the other folds fit only the winner.
                active[name] = [max(active[name], key=lambda i: selection_score(proba[name][i][at], rows.y[test], rows.multi_label))]
                narrowed.add(name)
    truth = rows.y[held]
    chosen = {
        name: active[name][0] if name in narrowed else max(range(len(grid)), key=lambda i: selection_score(proba[name][i], truth, rows.multi_label))
        for name, grid in grids.items()
    }
    return OutOfFold(
        proba={name: proba[name][i] for name, i in chosen.items()},
        params={name: grids[name][i] for name, i in chosen.items()},
        nearest=nearest,
    )
