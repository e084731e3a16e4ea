"""Per-request label subsets: a prediction may only choose among the codes a caller allows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.prediction import Prediction

__all__ = ["restrict_to_labels"]


def restrict_to_labels(cascade: Cascade, texts: Sequence[str], predictions: Sequence[Prediction], labels: Sequence[str]
                       ) -> list[Prediction]:
    """Keep predictions already inside `labels`; re-decide the others among `labels` only, and send those to review.

    A re-decided code is the allowed code with the highest score; its confidence is that score, which was not
    calibrated for a subset, so it is never auto-accepted.
    """
    allowed = list(dict.fromkeys(labels))
    unknown = [c for c in allowed if c not in cascade.codebook]
    if unknown:
        raise KeyError(f"code(s) {', '.join(map(repr, unknown))} not in codebook {cascade.codebook.id!r}")
    out = list(predictions)
    outside = [i for i, p in enumerate(out) if not set(p.codes) <= set(allowed)]
    if not outside:
        return out
    proba = cascade.predict_proba([texts[i] for i in outside])
    columns = [j for j, code in enumerate(cascade.classes_) if code in set(allowed)]
    for row, i in zip(proba, outside, strict=True):
        first = out[i]
        reason = f"the unrestricted choice {'|'.join(first.codes)} is outside the requested labels"
        if not columns:
            out[i] = Prediction((), 0.0, f"{first.method}/subset", True, reason="no requested label is one the model can choose")
            continue
        best = columns[int(np.argmax(row[columns]))]
        code = cascade.classes_[best]
        scores = {cascade.classes_[j]: round(float(row[j]), 4) for j in sorted(columns, key=lambda j: -row[j])[:5]}
        out[i] = replace(first, codes=(code,), labels=(cascade.codebook.get(code).name,), confidence=round(float(row[best]), 6),
                         method=f"{first.method}/subset", needs_review=True, reason=reason, scores=scores)
    return out
