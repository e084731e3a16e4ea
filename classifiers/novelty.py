"""The novelty floor: an answer like no labelled answer and no label's own words goes to review.

The score
    An answer's cosine similarity to its nearest row of the kNN memory. The memory holds the labelled answers and
    also the codebook's words for every code (name + description, aliases, examples: training_rows.label_rows),
    so the score is the distance to both. An answer below the floor goes to review whatever its confidence says:
    off-topic answers, another question's answer, gibberish, a theme the codebook lacks.

How the floor is chosen (fit, after the out-of-fold pass; no text is encoded again)
    Known answers: the out-of-fold rows, each with its similarity to the nearest row of the other folds and
    whether its calibrated confidence auto-codes it.
    Unknown answers: the same answers with their whole label held out. The labels are split into as many groups
    as there are folds; for each group the blend is refitted on every row of the other labels (label rows too, so
    the held-out label's name and description are gone), the heads warm-started from their final weights, and
    each answer of the group gets its nearest similarity to what is left and whether it would be auto-coded (into
    another label, so wrongly).
    The rule: the lowest floor at which UNKNOWN_RECALL_TARGET (90%) of the held-out labels' answers go to review
    (below the floor, or not confident enough), but never above the floor that takes KNOWN_LOSS_BUDGET (3%) of the
    known rows out of auto-coding; and never below the per-row floor (thresholds.novelty_floor), which still
    guards against answers far from everything when the held-out labels need no floor at all.
    Why 3% when the allowance is 5 points of auto-coded share: a deployed model auto-codes more of its known
    answers than its out-of-fold copies do (it has every training row), so the floor costs it more. On Banking77
    8-shot (20% of intents held out, 6 draws) a 5% budget cost 4.3-7.4 points on the test set, 3% cost 2.8-4.7.

What is measured (metrics_["novelty"], model.json's calibration.novelty)
    unknown_recall: the share of held-out labels' answers the model sends to review at the chosen floor. It is
    a little optimistic: a held-out group has a fifth of the labels (a third on large sets), so an unknown answer
    has fewer near neighbours than a new theme will have among all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TypedDict

import numpy as np

from autocode.classifiers.methods.component import Fold, Rows
from autocode.classifiers.methods.knn import top_k
from autocode.classifiers.out_of_fold import nearest_other

UNKNOWN_RECALL_TARGET = 0.90
KNOWN_LOSS_BUDGET = 0.03
RULE = (f"the lowest similarity floor at which {UNKNOWN_RECALL_TARGET:.0%} of held-out labels' answers go to review, "
        f"at most the one that takes {KNOWN_LOSS_BUDGET:.0%} of known out-of-fold answers out of auto-coding, "
        "at least the per-row floor")


class NoveltyChoice(TypedDict):
    """choose_floor's answer: the floor, and what it does to held-out labels' answers and to known ones."""

    floor: float
    rows_floor: float  # the per-row floor (thresholds.novelty_floor), the floor before labels were held out
    unknown_recall: float | None  # share of held-out labels' answers sent to review (None: none could be held out)
    unknown_rows: int
    known_loss: float  # share of known out-of-fold answers the floor takes out of auto-coding
    label_groups: int
    rule: str


def label_groups(n_labels: int, n_groups: int, seed: int) -> np.ndarray:
    """A group number per label column, groups of near-equal size in a seeded random order."""
    return np.random.default_rng(seed).permutation(n_labels) % max(1, min(n_groups, n_labels))


def held_out_label_splits(y: np.ndarray, folds: np.ndarray, groups: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(training rows, unknown rows) per group of labels.

    Training rows carry no code of the group; unknown rows are held-out rows (fold >= 0, so answers, not label rows)
    whose every code is in the group. Groups with nothing on either side are skipped.
    """
    coded = y > 0
    for g in np.unique(groups):
        out = groups == g
        touches = coded[:, out].any(axis=1)
        inside = ~coded[:, ~out].any(axis=1)
        train = np.flatnonzero(~touches)
        unknown = np.flatnonzero(touches & inside & (folds >= 0))
        if train.size and unknown.size:
            yield train, unknown


def held_out_labels(
    rows: Rows, folds: np.ndarray, groups: np.ndarray, depth: int, auto_coded: Callable[[Fold], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Every held-out label's answers: (nearest similarity to the rows left, whether `auto_coded` codes them).

    `auto_coded(fold)` refits the blend on fold.train (all label columns kept, the held-out ones empty) and says
    which of the fold's held-out rows its calibrated confidence would auto-code.
    """
    nearest, auto = [], []
    for train, unknown in held_out_label_splits(rows.y, folds, groups):
        scores, found = top_k(rows.x[unknown], rows.x[train], min(depth, train.size))
        fold = Fold(
            train=Rows(rows.x[train], rows.y[train], [rows.texts[i] for i in train], rows.classes, rows.multi_label),
            x_test=rows.x[unknown],
            texts_test=[rows.texts[i] for i in unknown],
            neighbours=(scores, found),
        )
        nearest.append(nearest_other(scores))
        auto.append(np.asarray(auto_coded(fold), dtype=bool))
    if not nearest:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(nearest), np.concatenate(auto)


def choose_floor(
    known_nearest: np.ndarray,
    known_auto: np.ndarray,
    unknown_nearest: np.ndarray,
    unknown_auto: np.ndarray,
    rows_floor: float,
    n_groups: int,
    *,
    target: float = UNKNOWN_RECALL_TARGET,
    budget: float = KNOWN_LOSS_BUDGET,
) -> NoveltyChoice:
    """The floor of the rule in the module docstring; a text is novel when its nearest similarity is below it."""
    known_nearest = np.asarray(known_nearest, dtype=np.float64)
    known_auto = np.asarray(known_auto, dtype=bool)
    unknown_nearest = np.asarray(unknown_nearest, dtype=np.float64)
    unknown_auto = np.asarray(unknown_auto, dtype=bool)
    floor = rows_floor
    if unknown_nearest.size:
        # Highest floor within the budget: the known auto-coded row after the `allowed` lowest (ties stay above).
        auto_known = np.sort(known_nearest[known_auto])
        allowed = int(budget * known_nearest.size)
        ceiling = float(auto_known[allowed]) if allowed < auto_known.size else math.inf
        # Lowest floor reaching the target: low confidence already sends ~unknown_auto rows to review.
        need = math.ceil(target * unknown_nearest.size - 1e-9) - int((~unknown_auto).sum())
        wanted = -math.inf
        if need > 0:
            wanted = math.nextafter(float(np.sort(unknown_nearest[unknown_auto])[need - 1]), math.inf)
        floor = max(rows_floor, min(wanted, ceiling))
    recall = float(np.mean(~unknown_auto | (unknown_nearest < floor))) if unknown_nearest.size else None
    return {
        "floor": float(floor),
        "rows_floor": float(rows_floor),
        "unknown_recall": recall,
        "unknown_rows": int(unknown_nearest.size),
        "known_loss": float(np.mean(known_auto & (known_nearest < floor))) if known_nearest.size else 0.0,
        "label_groups": int(n_groups),
        "rule": RULE,
    }
