"""A method used on its own (outside the Cascade): its uncalibrated probabilities as Predictions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from autocode.classifiers.prediction import Evidence, Prediction


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
