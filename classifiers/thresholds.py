"""Where the review threshold is chosen: the lowest confidence whose decisions reach the target accuracy, with a guarantee.

The rule: walking the cuts of the out-of-fold confidences from the highest down, the lowest cut reached before
the first whose covered rows' accuracy has a one-sided Clopper-Pearson lower confidence bound below the target,
at `GUARANTEE_LEVEL` (95%). Testing in a fixed sequence keeps the 95% for the whole walk with no correction. So,
if new answers are like the training rows, the auto-coded part is right at least the target share of the time
with that probability, instead of half the time as when the cut sat where the point estimate equals the target. When no cut
qualifies (too few rows, or the model too weak), nothing is auto-coded and the answer says why.

Also the other two reasons the learned blend sends a text to review: the per-row novelty floor (a text
unlike every training example; novelty.py raises it on held-out labels) and, with no labelled data, the
zero-shot threshold (no guarantee).
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np

from autocode.classifiers.calibration import MIN_CALIBRATION_ROWS, Calibrator

DEFAULT_TARGET_ACCURACY = 0.95
# The probability that the auto-coded accuracy really is at least the target (the guarantee's confidence).
GUARANTEE_LEVEL = 0.95
# Cuts tried, spread evenly over the covered share (a long walk's later cuts are tested on nearly the same rows).
MAX_CANDIDATES = 50
# Above every confidence (calibrated ones reach 1.0): nothing is auto-coded.
NO_AUTO_CODING = math.nextafter(1.0, 2.0)
# The per-row novelty floor never exceeds this cosine similarity (MiniLM puts unrelated sentences at ~0-0.3).
OOD_FLOOR_CAP = 0.4


class ThresholdChoice(TypedDict):
    """choose_threshold's answer: the cut, what it covers, and what is guaranteed about it."""

    threshold: float
    coverage: float  # share of the rows at or above the cut
    accuracy: float | None  # their observed accuracy (None when nothing is covered)
    lower_bound: float | None  # the one-sided lower confidence bound on it (None without a guarantee)
    rows: int  # rows the cut was chosen on
    guaranteed: bool  # the lower bound clears the target at `level`
    level: float | None  # the guarantee's confidence (None: point estimate, nothing guaranteed)


def accuracy_lower_bound(correct: int, total: int, alpha: float) -> float:
    """The one-sided (1 - alpha) Clopper-Pearson lower bound on a rate seen as correct / total."""
    from scipy.stats import beta

    if total <= 0 or correct <= 0:
        return 0.0
    return float(beta.ppf(alpha, correct, total - correct + 1))


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float, *, level: float | None = GUARANTEE_LEVEL
) -> ThresholdChoice:
    """The lowest cut t whose rows (confidence >= t) reach `target` accuracy with probability `level`.

    With `level=None` the old point-estimate rule: the lowest t whose observed accuracy reaches the target
    (used where there is nothing to guarantee with, as the zero-shot codebook examples). No qualifying cut:
    threshold NO_AUTO_CODING and coverage 0, so everything goes to review.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    none: ThresholdChoice = {"threshold": NO_AUTO_CODING, "coverage": 0.0, "accuracy": None, "lower_bound": None,
                             "rows": int(confidence.size), "guaranteed": False, "level": level}
    if confidence.size == 0:
        return none
    order = np.argsort(-confidence, kind="stable")
    conf, right = confidence[order], correct[order]
    hits = np.cumsum(right)
    accuracy = hits / np.arange(1, right.size + 1)
    # Only cut between distinct confidences: rows tied with the cut are all in or all out.
    cuts = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    if level is None:
        ok = cuts[accuracy[cuts] >= target]
        if ok.size == 0:
            return none
        i = int(ok.max())
        return {**none, "threshold": float(conf[i]), "coverage": (i + 1) / conf.size, "accuracy": float(accuracy[i])}
    alpha = 1.0 - level
    # Fixed-sequence testing: from the highest cut down, each at alpha, stopping at the first that fails, keeps
    # the chance of any false pass at alpha with no correction. The sequence starts where a perfect record could
    # pass (fewer rows can never clear the target) and steps by position only, never by correctness.
    cuts = cuts[cuts + 1 >= math.ceil(math.log(alpha) / math.log(target))] if 0 < target < 1 else cuts
    if cuts.size > MAX_CANDIDATES:
        cuts = np.unique(cuts[np.linspace(0, cuts.size - 1, MAX_CANDIDATES).round().astype(int)])
    chosen, best = None, None
    for i in (int(c) for c in cuts):
        bound = accuracy_lower_bound(int(hits[i]), i + 1, alpha)
        best = bound if best is None else max(best, bound)
        if bound < target:
            break
        chosen = (i, bound)
    if chosen is None:
        return {**none, "lower_bound": best}
    i, bound = chosen
    return {"threshold": float(conf[i]), "coverage": (i + 1) / conf.size, "accuracy": float(accuracy[i]),
            "lower_bound": bound, "rows": int(conf.size), "guaranteed": True, "level": level}


def guarantee_note(choice: ThresholdChoice, target: float) -> str:
    """One sentence for people: what the chosen cut guarantees, on how many rows, or why nothing is auto-coded."""
    rows = choice["rows"]
    if choice["level"] is None:
        return "nothing is guaranteed: the cut is where the observed accuracy reaches the target, with no labelled data to bound it"
    level = f"{choice['level']:.0%}"
    if choice["guaranteed"]:
        return (f"auto-coded answers are right at least {target:.0%} of the time with {level} confidence "
                f"(lower bound {choice['lower_bound']:.3f} on {round(choice['coverage'] * rows)} of {rows} out-of-fold rows)")
    bound = "" if choice["lower_bound"] is None else f" (the best lower bound was {choice['lower_bound']:.3f})"
    return (f"no cut reaches {target:.0%} with {level} confidence on {rows} out-of-fold rows{bound}: nothing is "
            f"auto-coded; label more rows or lower --target-accuracy")


def calibrated_threshold(
    raw: np.ndarray, right: np.ndarray, target: float, *, level: float | None = GUARANTEE_LEVEL
) -> tuple[Calibrator, ThresholdChoice]:
    """A calibrator fitted on out-of-fold raw scores, and choose_threshold on its calibrated output."""
    calibrator = Calibrator.fit(raw, right)
    return calibrator, choose_threshold(calibrator(raw), right, target, level=level)


def novelty_floor(nearest: np.ndarray) -> float:
    """The similarity below which a text is novel, from held-out rows' similarity to their nearest training text.

    A text less like any training example than almost every held-out row goes to review whatever its
    score says, since the calibration never saw anything like it. Capped, so that tight training data
    (near-paraphrases) does not send every new wording to review. novelty.choose_floor starts from it and
    raises it where held-out labels' answers need a higher floor to go to review.
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
    chosen = choose_threshold(confidence, correct, target, level=None)  # a few examples per label bound nothing
    return max(fixed, float(chosen["threshold"])), chosen
