"""Which codes a text gets: the top code (single-label) or every code at or above the cut (multi-label).

The multi-label cut, and the most codes one answer may get, are chosen on out-of-fold rows; the raw score
of a set is the probability that the whole set is right (each label in it present, each label outside it absent).
"""

from __future__ import annotations

import numpy as np

from autocode.classifiers.scoring import micro_f1

# The caps on the number of codes per answer cross-validation tries (None: as many as clear the cut).
MAX_CODES_GRID: tuple[int | None, ...] = (1, 2, 3, None)


def choose_labels(proba: np.ndarray, cut: float, max_codes: int | None = None) -> np.ndarray:
    """The labels at or above the cut, at most `max_codes` of them (the highest), as a boolean matrix."""
    chosen = proba >= cut
    if max_codes is not None and proba.shape[1] > max_codes:
        rank = np.argsort(np.argsort(-proba, axis=1, kind="stable"), axis=1, kind="stable")
        chosen &= rank < max_codes
    return chosen


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


def best_max_codes(proba: np.ndarray, truth: np.ndarray, cut: float) -> tuple[int | None, float]:
    """The cap on codes per answer with the best out-of-fold exact-set rate at `cut` (ties: the looser cap), and that rate."""
    best: tuple[int | None, float] = (None, -1.0)
    for cap in reversed(MAX_CODES_GRID):  # loosest first, so a tie keeps every code that clears the cut
        exact = float(np.mean(np.all(choose_labels(proba, cut, cap) == (truth > 0), axis=1)))
        if exact > best[1]:
            best = (cap, exact)
    return best


def choose_codes(proba: np.ndarray, multi_label: bool, cut: float, max_codes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(chosen codes as a boolean matrix, raw score of that choice) for blended probabilities."""
    if multi_label:
        chosen = choose_labels(proba, cut, max_codes)
        decided = np.where(chosen, proba, 1.0 - proba)
        return chosen, np.prod(np.clip(decided, 0.0, 1.0), axis=1)
    chosen = np.zeros_like(proba, dtype=bool)
    top = proba.argmax(axis=1)
    chosen[np.arange(len(top)), top] = True
    return chosen, proba[np.arange(len(top)), top]


def parent_groups(classes: list[str], parent_of: dict[str, str | None]) -> list[tuple[str, np.ndarray]]:
    """(parent code, columns of its child codes) for every parent with children among `classes`."""
    groups: dict[str, list[int]] = {}
    for j, code in enumerate(classes):
        parent = parent_of.get(code)
        if parent is not None:
            groups.setdefault(parent, []).append(j)
    return [(parent, np.asarray(columns)) for parent, columns in groups.items()]


def uncertain_parents(proba: np.ndarray, chosen: np.ndarray, groups: list[tuple[str, np.ndarray]], cut: float) -> list[list[str]]:
    """Per row, the parents to code because no child clears the cut but together the children do.

    The children's joint evidence is the probability that at least one holds, 1 - prod(1 - p), reading
    them as independent as the one-vs-rest scores are; a parent already chosen, or one of whose children
    is, adds nothing.
    """
    out: list[list[str]] = [[] for _ in range(proba.shape[0])]
    for parent, columns in groups:
        joint = 1.0 - np.prod(1.0 - np.clip(proba[:, columns], 0.0, 1.0), axis=1)
        for i in np.flatnonzero((joint >= cut) & ~chosen[:, columns].any(axis=1)):
            out[i].append(parent)
    return out
