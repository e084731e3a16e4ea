"""Zero-shot: a codebook with no training data, decided by similarity to each label's own words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.methods.component import Role
from autocode.classifiers.prediction import Evidence, Prediction
from autocode.embeddings import Encoder


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

    method: ClassVar[str] = "zero-shot"
    role: ClassVar[Role] = "fallback"

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
        self.codes_ = list(self.codebook.leaves())
        phrases: list[str] = []
        owners: list[int] = []
        for i, code in enumerate(self.codes_):
            label = self.codebook.get(code)
            for phrase in [label_prototype(label.name, label.description), label.name, *label.aliases, *label.examples]:
                phrases.append(phrase)
                owners.append(i)
        self.phrases_ = phrases
        self.names_ = [self.codebook.get(code).name for code in self.codes_]  # looked up once, not per row
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
        # fit() lists each label's phrases together, so a label's columns are one contiguous run.
        starts = np.searchsorted(self.owners_, np.arange(len(self.codes_)))
        best = np.maximum.reduceat(sims, starts, axis=1)
        # The phrase that gave the best: the first column of the run that reaches the run's maximum.
        column = np.where(sims >= best[:, self.owners_], np.arange(sims.shape[1]), sims.shape[1])
        arg = np.minimum.reduceat(column, starts, axis=1).astype(np.int64)
        return best.astype(np.float32, copy=False), arg

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability-like scores over the leaf labels (softmax of similarities)."""
        best, _ = self.similarities(texts)
        return softmax(best, self.temperature)

    def predict(self, texts: Sequence[str], extra_evidence: tuple[Evidence, ...] = ()) -> list[Prediction]:
        """One Prediction per text (`extra_evidence` appended to each); below the review threshold still the best guess, flagged."""
        texts = list(texts)
        if not texts:
            return []
        best, arg = self.similarities(texts)
        proba = softmax(best, self.temperature)
        # Sorted once for the whole batch and turned into Python lists: per-row numpy calls cost more than the maths.
        order = np.argsort(-proba, axis=1, kind="stable")
        rows = np.arange(len(texts))[:, None]
        top5 = order[:, :5]
        top3 = top5[:, :3]
        # Rounded as arrays: Python's round() per value was a tenth of the per-row cost.
        top5_p = np.round(proba[rows, top5].astype(np.float64), 4).tolist()
        top3_best = np.round(best[rows, top3].astype(np.float64), 4).tolist()
        top3_arg = arg[rows, top3].tolist()
        confidence = proba[rows[:, 0], order[:, 0]].tolist()
        codes_, phrases, names = self.codes_, self.phrases_, self.names_
        multi, method, threshold = self.codebook.multi_label, self.method, self.review_threshold
        out = []
        for i, (labels5, p5, b3, a3) in enumerate(zip(top5.tolist(), top5_p, top3_best, top3_arg, strict=True)):
            chosen = [labels5[0]]
            if multi:
                chosen += [int(j) for j in order[i, 1:] if proba[i, j] >= self.multi_label_ratio * proba[i, chosen[0]]]
            out.append(
                Prediction(
                    codes=tuple(codes_[j] for j in chosen),
                    confidence=confidence[i],
                    method=method,
                    needs_review=confidence[i] < threshold,
                    # labels5 runs to five codes, the evidence to the top three: zip stops at the shorter on purpose.
                    evidence=(*[Evidence("label", phrases[a], codes_[j], b) for j, a, b in zip(labels5, a3, b3, strict=False)],
                              *extra_evidence),
                    labels=tuple(names[j] for j in chosen),
                    scores={codes_[j]: p for j, p in zip(labels5, p5, strict=False)},
                )
            )
        return out
