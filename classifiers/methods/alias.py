"""Exact match: a text whose normalised form is a label's name or alias, or a text seen in training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.label_matrix import label_matrix
from autocode.classifiers.methods.component import Role
from autocode.classifiers.normalise import normalise_key
from autocode.classifiers.prediction import Evidence, Prediction

# Punctuation a person adds around an answer ("Paid study leave.") that does not change what it says.
_EDGE_PUNCTUATION = " .,;:!?\"'()[]-"


def match_key(text: str) -> str:
    """The key exact matching uses: normalise_key without surrounding punctuation."""
    return normalise_key(text).strip(_EDGE_PUNCTUATION)


class AliasClassifier:
    """Decides a text only on an exact (normalised) match; every other text is passed on."""

    method: ClassVar[str] = "alias"
    role: ClassVar[Role] = "exact"

    def __init__(self, codebook: Codebook, *, confidence: float = 0.99, use_training: bool = True) -> None:
        self.codebook = codebook
        self.confidence = confidence
        self.use_training = use_training

    def fit(self, texts: Sequence[str] = (), labels: Sequence[Sequence[str]] = ()) -> Self:
        """Index names and aliases of every label, and training texts that always carry the same codes."""
        entries: dict[str, set[tuple[str, ...]]] = {}
        sources: dict[str, tuple[str, str]] = {}
        for label in self.codebook.labels:
            for phrase, kind in [(label.name, "name"), *((a, "alias") for a in label.aliases)]:
                key = match_key(phrase)
                if key:
                    entries.setdefault(key, set()).add((label.code,))
                    sources.setdefault(key, (kind, phrase))
        if self.use_training:
            for text, codes in zip(texts, labels, strict=True):
                key = match_key(text)
                if key and codes:
                    entries.setdefault(key, set()).add(tuple(sorted(codes)))
                    sources.setdefault(key, ("training", text))
        # A key that points at two different answers is ambiguous: the other methods decide it.
        self.table_ = {key: next(iter(found)) for key, found in entries.items() if len(found) == 1}
        self.sources_ = {key: sources[key] for key in self.table_}
        self.classes_ = self.codebook.codes()
        return self

    def lookup(self, texts: Sequence[str]) -> list[Prediction | None]:
        """A Prediction for each text that matches exactly, None for the texts it passes on."""
        if not hasattr(self, "table_"):
            self.fit()
        out: list[Prediction | None] = []
        for text in texts:
            key = match_key(text)
            codes = self.table_.get(key) if key else None
            if codes is None:
                out.append(None)
                continue
            kind, matched = self.sources_[key]
            out.append(
                Prediction(
                    codes=codes,
                    confidence=self.confidence,
                    method=self.method,
                    needs_review=False,
                    evidence=tuple(Evidence("alias", f"{kind}: {matched}", code, 1.0) for code in codes),
                    labels=tuple(self.codebook.get(c).name for c in codes),
                )
            )
        return out

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text; a text without an exact match comes back empty and flagged for review."""
        return [
            hit
            if hit is not None
            else Prediction(codes=(), confidence=0.0, method=self.method, needs_review=True, reason="no exact match")
            for hit in self.lookup(texts)
        ]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One-hot rows over `classes_` for exact matches, zero rows for the rest."""
        hits = self.lookup(texts)
        return label_matrix([h.codes if h else () for h in hits], self.classes_)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready parameters and arrays for saving."""
        table = [[key, list(codes), *self.sources_[key]] for key, codes in self.table_.items()]
        return {"confidence": self.confidence, "use_training": self.use_training, "table": table}, {}

    @classmethod
    def from_state(cls, codebook: Codebook, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> AliasClassifier:
        """Rebuild a fitted classifier from get_state()."""
        obj = cls(codebook, confidence=params["confidence"], use_training=params["use_training"])
        obj.table_ = {key: tuple(codes) for key, codes, _, _ in params["table"]}
        obj.sources_ = {key: (kind, matched) for key, _, kind, matched in params["table"]}
        obj.classes_ = codebook.codes()
        return obj
