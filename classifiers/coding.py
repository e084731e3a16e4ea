"""Code a column: normalise, decide each distinct text once, join the decisions back to every row."""

from __future__ import annotations

from collections.abc import Sequence

from autocode.classifiers.normalise import normalise_key
from autocode.classifiers.prediction import Classifier, Prediction


def code_texts(classifier: Classifier, texts: Sequence[str]) -> tuple[list[Prediction], int]:
    """Predictions for every text (in order) and the number of distinct keys actually decided."""
    keys = [normalise_key(t) for t in texts]
    unique = list(dict.fromkeys(keys))
    decided = dict(zip(unique, classifier.predict(unique), strict=True))
    return [decided[k] for k in keys], len(unique)
