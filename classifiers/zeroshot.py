"""Zero-shot: a codebook with no training data, decided by similarity to each label's own words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from classifiers.codebook import Codebook
from classifiers.prediction import Evidence, Prediction
from embeddings import Encoder


def label_prototype(name: str, description: str) -> str:
    """The text that stands for a label: its name, then its description (kept short for the model window)."""
    return f"{name}. {description}".strip() if description else name


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of similarity scores at a temperature."""
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ZeroShotClassifier:
    """Scores a text against each leaf label's prototype, aliases and examples; the best match wins."""

    method = "zero-shot"

    def __init__(
        self,
        encoder: Encoder,
        codebook: Codebook,
        *,
        temperature: float = 0.05,
        review_threshold: float = 0.5,
        multi_label_ratio: float = 0.5,
    ) -> None:
        self.encoder = encoder
        self.codebook = codebook
        self.temperature = temperature
        self.review_threshold = review_threshold
        self.multi_label_ratio = multi_label_ratio

    def fit(self, texts: Sequence[str] = (), labels: Sequence[Sequence[str]] = ()) -> Self:
        """Embed every label's words once; zero-shot needs no training texts, so they are ignored."""
        self.codes_ = [c for c in self.codebook.leaves()]
        phrases: list[str] = []
        owners: list[int] = []
        for i, code in enumerate(self.codes_):
            label = self.codebook.get(code)
            for phrase in [label_prototype(label.name, label.description), label.name, *label.aliases, *label.examples]:
                phrases.append(phrase)
                owners.append(i)
        self.phrases_ = phrases
        self.owners_ = np.asarray(owners, dtype=np.int64)
        self.phrase_vectors_ = self.encoder.encode(phrases)
        self.example_rows_ = np.asarray(
            [i for i, (p, o) in enumerate(zip(phrases, owners, strict=True)) if p in self.codebook.get(self.codes_[o]).examples],
            dtype=np.int64,
        )
        return self

    def leave_one_out(self) -> tuple[np.ndarray, np.ndarray]:
        """Confidence and correctness of each label example coded with itself held out (labelled data for free)."""
        if not hasattr(self, "codes_"):
            self.fit()
        rows = self.example_rows_
        sims = self.phrase_vectors_[rows] @ self.phrase_vectors_.T
        sims[np.arange(len(rows)), rows] = -np.inf  # an example may not vote for itself
        best = np.full((len(rows), len(self.codes_)), -1.0, dtype=np.float32)
        for j in range(len(self.codes_)):
            best[:, j] = sims[:, self.owners_ == j].max(axis=1)
        proba = softmax(best, self.temperature)
        return proba.max(axis=1), proba.argmax(axis=1) == self.owners_[rows]

    def similarities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-label best cosine similarity [n, labels] and the index of the phrase that gave it."""
        if not hasattr(self, "codes_"):
            self.fit()
        sims = self.encoder.encode(texts) @ self.phrase_vectors_.T
        n_labels = len(self.codes_)
        best = np.full((len(texts), n_labels), -1.0, dtype=np.float32)
        arg = np.zeros((len(texts), n_labels), dtype=np.int64)
        for j in range(n_labels):
            cols = np.flatnonzero(self.owners_ == j)
            local = sims[:, cols]
            k = local.argmax(axis=1)
            best[:, j] = local[np.arange(len(texts)), k]
            arg[:, j] = cols[k]
        return best, arg

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability-like scores over the leaf labels (softmax of similarities)."""
        best, _ = self.similarities(texts)
        return softmax(best, self.temperature)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text; below the review threshold it is still the best guess, flagged for review."""
        texts = list(texts)
        if not texts:
            return []
        best, arg = self.similarities(texts)
        proba = softmax(best, self.temperature)
        out = []
        for i in range(len(texts)):
            order = np.argsort(-proba[i])
            top = int(order[0])
            chosen = [top]
            if self.codebook.multi_label:
                chosen += [int(j) for j in order[1:] if proba[i, j] >= self.multi_label_ratio * proba[i, top]]
            codes = tuple(self.codes_[j] for j in chosen)
            confidence = float(proba[i, top])
            evidence = tuple(
                Evidence("label", self.phrases_[arg[i, j]], self.codes_[j], round(float(best[i, j]), 4))
                for j in order[:3]
            )
            out.append(
                Prediction(
                    codes=codes,
                    confidence=confidence,
                    method=self.method,
                    needs_review=confidence < self.review_threshold,
                    evidence=evidence,
                    labels=tuple(self.codebook.get(c).name for c in codes),
                    scores={self.codes_[j]: round(float(proba[i, j]), 4) for j in order[:5]},
                )
            )
        return out
