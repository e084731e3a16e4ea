"""Codes as matrices: the 0/1 label matrix every learned method trains on, and the order of its columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def label_matrix(labels: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """A 0/1 float32 matrix [n, len(classes)]: row i marks the codes of labels[i]; unknown codes raise KeyError."""
    column = {code: j for j, code in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for i, codes in enumerate(labels):
        for code in codes:
            out[i, column[code]] = 1.0
    return out


def ordered_classes(labels: Sequence[Sequence[str]], order: Sequence[str] = ()) -> list[str]:
    """The distinct codes in `labels`, in `order` (e.g. codebook order) first, then first-seen order."""
    seen = dict.fromkeys(code for codes in labels for code in codes)
    ranked = [code for code in order if code in seen]
    return ranked + [code for code in seen if code not in set(ranked)]
