"""The learned blend: a weighted mean of the blend methods' probabilities, the weights chosen on out-of-fold rows."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from autocode.classifiers.label_sets import best_cut
from autocode.classifiers.methods.component import BlendComponent
from autocode.classifiers.scoring import selection_score


def mix(weights: Mapping[str, float], proba: Mapping[str, np.ndarray]) -> np.ndarray:
    """The weighted sum of each method's probabilities."""
    return sum(w * proba[name] for name, w in weights.items())  # type: ignore[return-value]  # sum's 0 start types it int | array


def even_weights(names: Sequence[str]) -> dict[str, float]:
    """Equal weights: the blend when too few rows could be held out to choose any."""
    share = 1.0 / max(len(names), 1)
    return dict.fromkeys(names, share)


def choose_weights(oof: Mapping[str, np.ndarray], truth: np.ndarray, multi_label: bool, step: float) -> dict[str, float]:
    """Blend weights: the centre of the simplex-grid blends within one standard error of the best
    out-of-fold accuracy (micro-F1 for multi-label); on few rows the single best is mostly noise."""
    names = list(oof)
    steps = round(1 / step)
    results = []
    for combo in itertools.product(range(steps + 1), repeat=len(names)):
        if sum(combo) != steps:
            continue
        weights = {n: c / steps for n, c in zip(names, combo, strict=True)}
        blend = mix(weights, oof)
        primary, loss = selection_score(blend, truth, multi_label)
        if multi_label:
            primary = best_cut(blend, truth)[1][0]
        results.append((primary, loss, weights))
    best = max(r[0] for r in results)
    n_items = float(truth.sum()) if multi_label else float(truth.shape[0])
    margin = float(np.sqrt(max(best * (1 - best), 0.0) / max(n_items, 1.0)))
    near = [r[2] for r in results if r[0] >= best - margin]
    centre = {name: round(float(np.mean([w[name] for w in near])), 3) for name in names}
    return {name: w / sum(centre.values()) for name, w in centre.items() if w > 0}


def blend_proba(
    weights: Mapping[str, float],
    components: Mapping[str, BlendComponent],
    x: np.ndarray,
    texts: list[str],
    neighbours: tuple[np.ndarray, np.ndarray],
    n_classes: int,
) -> np.ndarray:
    """The blended probabilities [n, n_classes] of fitted components for embedded texts."""
    proba = np.zeros((len(texts), n_classes))
    for name, weight in weights.items():
        proba += weight * components[name].blend_proba(x, texts, neighbours)
    return proba
