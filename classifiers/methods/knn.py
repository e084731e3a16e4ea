"""kNN: the nearest labelled examples in a FAISS index vote, weighted by similarity."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.label_matrix import label_matrix, ordered_classes
from autocode.classifiers.methods.component import Fold, Role, Rows, Settings
from autocode.classifiers.methods.standalone import proba_to_predictions
from autocode.classifiers.prediction import Evidence, Prediction
from autocode.embeddings import Encoder, VectorIndex


def vote(scores: np.ndarray, rows: np.ndarray, y: np.ndarray, k: int, temperature: float) -> np.ndarray:
    """Per-class probabilities [n, L] from the top-k neighbours (scores and rows [n, >=k], -1 = none) of label matrix y.

    Weights are exp((s - s_best) / temperature): a small temperature trusts the closest example,
    a large one counts heads. For multi-label rows the result is each label's weighted share.
    """
    votes = np.zeros((scores.shape[0], y.shape[1]))
    total = np.zeros((scores.shape[0], 1))
    for j in range(min(k, rows.shape[1])):  # one neighbour rank at a time: memory stays [n, L]
        valid = rows[:, j] >= 0
        w = np.where(valid, np.exp((np.where(valid, scores[:, j], 0.0) - scores[:, 0]) / temperature), 0.0)[:, None]
        votes += w * y[np.maximum(rows[:, j], 0)]
        total += w
    return votes / np.maximum(total, 1e-12)


def top_k(queries: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products of queries against base rows: (scores, rows), -inf/-1 padded."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    scores, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    scores[rows < 0] = -np.inf
    return scores, rows


class KNNClassifier:
    """Similarity-weighted vote of the k nearest training examples; evidence is those examples.

    In the Cascade it is a blend method and also the neighbour memory (evidence, novelty, chunk
    relevance), so it is fitted even when it has no weight, and model.py saves it with its index.
    """

    method: ClassVar[str] = "knn"
    role: ClassVar[Role] = "blend"
    costly: ClassVar[bool] = False  # one search serves every (k, temperature): each fold tries the whole grid

    def __init__(
        self,
        encoder: Encoder,
        *,
        k: int = 10,
        temperature: float = 0.05,
        multi_label: bool = False,
        review_threshold: float = 0.5,
        codebook: Codebook | None = None,
    ) -> None:
        self.encoder = encoder
        self.k = k
        self.temperature = temperature
        self.multi_label = multi_label
        self.review_threshold = review_threshold
        self.codebook = codebook

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Self:
        """Embed the training texts and index them."""
        classes = ordered_classes(labels, self.codebook.codes() if self.codebook else ())
        return self.fit_vectors(self.encoder.encode(list(texts)), label_matrix(labels, classes), list(texts), classes)

    def fit_vectors(self, vectors: np.ndarray, y: np.ndarray, texts: Sequence[str], classes: Sequence[str]) -> Self:
        """Index already-embedded examples with their label matrix y [n, L] over `classes`."""
        self.classes_ = list(classes)
        self.y_ = np.asarray(y, dtype=np.float32)
        self.texts_ = list(texts)
        self.index_ = VectorIndex(self.encoder.name, self.encoder.dim, kind="flat")
        self.index_.add(np.arange(len(vectors), dtype=np.int64), vectors)
        return self

    def neighbours(self, vectors: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The nearest training rows of each vector: (scores [n, k], rows [n, k]), best first."""
        k = min(k or self.k, len(self.texts_))
        return self.index_.search(vectors, k)

    def proba_vectors(self, vectors: np.ndarray, found: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Vote probabilities [n, L] for embedded texts (pass `found` to reuse a search)."""
        scores, rows = found if found is not None else self.neighbours(vectors)
        return vote(scores, rows, self.y_, self.k, self.temperature)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Vote probabilities [n, len(classes_)]."""
        return self.proba_vectors(self.encoder.encode(list(texts)))

    def evidence(self, scores: np.ndarray, rows: np.ndarray, limit: int = 3) -> list[tuple[Evidence, ...]]:
        """The nearest training examples of each text as Evidence (text, its code(s), similarity)."""
        out = []
        for s_row, r_row in zip(scores, rows, strict=True):
            items = []
            for s, r in zip(s_row[:limit], r_row[:limit], strict=True):
                if r < 0:
                    break
                codes = "|".join(self.classes_[j] for j in np.flatnonzero(self.y_[r]))
                items.append(Evidence("neighbour", self.texts_[r], codes, round(float(s), 4)))
            out.append(tuple(items))
        return out

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text (uncalibrated vote share as confidence), with its neighbours as evidence."""
        texts = list(texts)
        if not texts:
            return []
        scores, rows = self.neighbours(self.encoder.encode(texts))
        evidence = self.evidence(scores, rows)
        codebook = self.codebook
        return proba_to_predictions(
            vote(scores, rows, self.y_, self.k, self.temperature),  # proba_vectors on the search already made
            self.classes_,
            method=self.method,
            multi_label=self.multi_label,
            review_threshold=self.review_threshold,
            names=(lambda c: codebook.get(c).name) if codebook else None,
            evidence=lambda i: evidence[i],
        )

    # ------------------------------------------------------------------ as a blend method (methods/component.py)

    @classmethod
    def grid(cls, settings: Settings) -> list[dict[str, Any]]:
        """Every (k, temperature) pair of the Cascade's k_grid and temperature_grid."""
        return [{"k": k, "temperature": t} for k, t in itertools.product(settings.k_grid, settings.temperature_grid)]

    @classmethod
    def default_params(cls, settings: Settings) -> dict[str, Any]:
        """k 10 at temperature 0.05."""
        return {"k": 10, "temperature": 0.05}

    @classmethod
    def fold_proba(cls, fold: Fold, grid: list[dict[str, Any]]) -> list[np.ndarray]:
        """The held-out rows' votes from the fold's neighbour search, for each grid entry."""
        scores, rows = fold.neighbours
        return [vote(scores, rows, fold.train.y, p["k"], p["temperature"]) for p in grid]

    @classmethod
    def fit_component(cls, encoder: Encoder, rows: Rows, params: dict[str, Any]) -> KNNClassifier:
        """Index every row at the chosen k and temperature."""
        return cls(encoder, multi_label=rows.multi_label, **params).fit_vectors(rows.x, rows.y, rows.texts, rows.classes)

    def blend_proba(self, x: np.ndarray, texts: list[str], neighbours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The vote of the neighbours already found for x."""
        return self.proba_vectors(x, neighbours)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready parameters and arrays for saving (the index itself is saved by its own save())."""
        params = {"k": self.k, "temperature": self.temperature, "multi_label": self.multi_label, "classes": self.classes_}
        return params, {"y": self.y_.astype(np.uint8)}

    @classmethod
    def from_state(
        cls, encoder: Encoder, params: dict[str, Any], arrays: dict[str, np.ndarray], texts: list[str], index: VectorIndex
    ) -> KNNClassifier:
        """Rebuild a fitted classifier from get_state(), its texts and its loaded index."""
        obj = cls(encoder, k=params["k"], temperature=params["temperature"], multi_label=params["multi_label"])
        obj.classes_ = list(params["classes"])
        obj.y_ = arrays["y"].astype(np.float32)
        obj.texts_ = texts
        obj.index_ = index
        return obj
