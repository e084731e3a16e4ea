"""Trained heads: logistic regression on the embeddings, and on character n-grams (the lexical head).

scikit-learn fits them; only coefficient arrays are kept, so a saved head does not depend on the
scikit-learn version that trained it (no pickles).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeAlias

import numpy as np

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.label_matrix import label_matrix, ordered_classes
from autocode.classifiers.methods.component import Fold, Role, Rows, Settings
from autocode.classifiers.methods.standalone import proba_to_predictions
from autocode.classifiers.prediction import Prediction
from autocode.embeddings import Encoder

# scipy and sklearn are imported where a head is fitted or used, not here: together they cost ~1.5-2 s of every
# process's start, and zero-shot coding, the service's start and search never need them.
if TYPE_CHECKING:
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    Features: TypeAlias = np.ndarray | sparse.spmatrix


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, stable for large magnitudes."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


class LogisticModel:
    """Multinomial (single-label) or one-vs-rest (multi-label) logistic regression, kept as arrays."""

    def __init__(self, *, C: float = 10.0, multi_label: bool = False, max_iter: int = 1000, class_weight: str | None = None) -> None:
        self.C = C
        self.multi_label = multi_label
        self.max_iter = max_iter
        self.class_weight = class_weight

    def fit(self, x: Features, y: np.ndarray, warm: LogisticModel | None = None) -> Self:
        """Fit on features x [n, d] and a 0/1 label matrix y [n, L]; `warm` starts from another fit's weights."""
        n_labels = y.shape[1]
        self.coef_ = np.zeros((n_labels, x.shape[1]), dtype=np.float32)
        self.intercept_ = np.zeros(n_labels, dtype=np.float32)
        # L-BFGS makes many tiny BLAS calls: threaded BLAS spends more time syncing than computing
        # (measured 15x slower on 2 busy cores), so the solver runs on one BLAS thread.
        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            # A capped number of iterations is a choice (speed); the CV score judges the result.
            warnings.simplefilter("ignore", ConvergenceWarning)
            # Few-shot data has many classes per row; sklearn then wonders whether y is a regression target.
            warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
            if self.multi_label:
                for j in range(n_labels):
                    self._fit_one(x, y[:, j], j, warm)
            else:
                self._fit_multinomial(x, y, warm)
        return self

    def _fit_multinomial(self, x: Features, y: np.ndarray, warm: LogisticModel | None) -> None:
        present = np.flatnonzero(y.sum(axis=0) > 0)
        if present.size < 2:
            # One class only: it always wins; the bias says so without a solver.
            self.intercept_[:] = -30.0
            self.intercept_[present] = 0.0
            return
        target = y[:, present].argmax(axis=1)
        binary = present.size == 2
        warm = None if binary else warm  # a binary fit keeps one row of weights, not one per class
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, warm_start=warm is not None)
        if warm is not None:
            model.coef_ = warm.coef_[present].astype(np.float64)
            model.intercept_ = warm.intercept_[present].astype(np.float64)
        model.fit(x, target)
        # Classes absent from this fit (a CV fold without them) get a bias that keeps them at ~0.
        self.intercept_[:] = -30.0
        if binary:
            # softmax([0, z]) is sigmoid(z): the first class keeps zero weights.
            self.coef_[present[0]] = 0.0
            self.intercept_[present[0]] = 0.0
            self.coef_[present[1]] = model.coef_[0]
            self.intercept_[present[1]] = model.intercept_[0]
        else:
            self.coef_[present] = model.coef_
            self.intercept_[present] = model.intercept_

    def _fit_one(self, x: Features, column: np.ndarray, j: int, warm: LogisticModel | None) -> None:
        positives = int(column.sum())
        if positives == 0 or positives == column.size:
            self.intercept_[j] = 30.0 if positives else -30.0
            return
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, warm_start=warm is not None)
        if warm is not None:
            model.coef_ = warm.coef_[j : j + 1].astype(np.float64)
            model.intercept_ = warm.intercept_[j : j + 1].astype(np.float64)
        model.fit(x, column.astype(np.int64))
        self.coef_[j] = model.coef_[0]
        self.intercept_[j] = model.intercept_[0]

    def proba(self, x: Features) -> np.ndarray:
        """Probabilities [n, L]: softmax for single-label, per-label sigmoid for multi-label."""
        logits = np.asarray(x @ self.coef_.T, dtype=np.float64) + self.intercept_
        return sigmoid(logits) if self.multi_label else softmax(logits)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready parameters and the coefficient arrays."""
        params = {"C": self.C, "multi_label": self.multi_label, "max_iter": self.max_iter, "class_weight": self.class_weight}
        return params, {"coef": self.coef_, "intercept": self.intercept_}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> LogisticModel:
        """Rebuild from get_state()."""
        obj = cls(C=params["C"], multi_label=params["multi_label"], max_iter=params["max_iter"], class_weight=params.get("class_weight"))
        obj.coef_ = arrays["coef"].astype(np.float32)
        obj.intercept_ = arrays["intercept"].astype(np.float32)
        return obj


class CharNgrams:
    """TF-IDF of character n-grams within words (sublinear tf, l2 rows), rebuilt from vocabulary + idf alone."""

    def __init__(self, *, ngram_range: tuple[int, int] = (2, 4), min_df: int = 2, max_features: int = 50_000) -> None:
        self.ngram_range = tuple(ngram_range)
        self.min_df = min_df
        self.max_features = max_features

    def _counter(self, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(
            analyzer="char_wb",
            ngram_range=self.ngram_range,
            lowercase=True,
            min_df=1 if vocabulary is not None else self.min_df,
            max_features=None if vocabulary is not None else self.max_features,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str]) -> Self:
        """Learn the n-gram vocabulary and inverse document frequencies."""
        counter = self._counter()
        try:
            counts = counter.fit_transform(texts)
        except ValueError:  # too few texts for min_df: keep every n-gram
            counter = self._counter()
            counter.min_df = 1
            counts = counter.fit_transform(texts)
        self.vocabulary_ = {term: int(i) for term, i in counter.vocabulary_.items()}
        df = np.bincount(counts.indices, minlength=len(self.vocabulary_))
        self.idf_ = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """TF-IDF rows [n, vocabulary], unit length."""
        from scipy import sparse

        counts = self._counter(self.vocabulary_).transform(texts).tocsr()
        counts.data = (1 + np.log(counts.data)) * self.idf_[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ counts, dtype=np.float32)


class _Head:
    """What both heads share: classes, fit on a label matrix, predictions from probabilities."""

    method: ClassVar[str] = "head"

    def __init__(self, *, C: float, multi_label: bool, review_threshold: float, codebook: Codebook | None) -> None:
        self.C = C
        self.multi_label = multi_label
        self.review_threshold = review_threshold
        self.codebook = codebook

    def features(self, texts: Sequence[str]) -> Features:  # pragma: no cover - overridden
        """Feature rows for texts."""
        raise NotImplementedError

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Self:
        """Fit the regression on texts and their codes."""
        classes = ordered_classes(labels, self.codebook.codes() if self.codebook else ())
        self._prepare(texts)
        return self.fit_features(self.features(texts), label_matrix(labels, classes), classes)

    def _prepare(self, texts: Sequence[str]) -> None:
        """Learn the featuriser, where it needs learning."""

    def fit_features(self, x: Features, y: np.ndarray, classes: Sequence[str], warm: LogisticModel | None = None) -> Self:
        """Fit on ready feature rows and a label matrix over `classes`."""
        self.classes_ = list(classes)
        self.model_ = LogisticModel(C=self.C, multi_label=self.multi_label).fit(x, y, warm)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities [n, len(classes_)]."""
        return self.model_.proba(self.features(list(texts)))

    def fold_features(self, fold: Fold, memo: dict[str, Any]) -> tuple[Features, Features]:  # pragma: no cover - overridden
        """Feature rows of the fold's training rows and of its held-out rows (`memo` may keep work for the next fold)."""
        raise NotImplementedError

    def refit_proba(self, fold: Fold, memo: dict[str, Any] | None = None) -> np.ndarray:
        """The fold's held-out rows' probabilities from a refit on fold.train (same classes), started from this head's weights.

        The held-out-labels pass (classifiers/novelty.py) refits once per group of labels: warm-started, each refit
        costs about half a cold fit. fold.train.y has this head's columns, those of the labels left out all zero.
        Pass the same `memo` dict for every fold of one pass, so that no text is featurised twice.
        """
        train, test = self.fold_features(fold, {} if memo is None else memo)
        return LogisticModel(C=self.C, multi_label=self.multi_label).fit(train, fold.train.y, self.model_).proba(test)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text, with the head's (uncalibrated) probability as confidence."""
        texts = list(texts)
        if not texts:
            return []
        codebook = self.codebook
        return proba_to_predictions(
            self.predict_proba(texts),
            self.classes_,
            method=self.method,
            multi_label=self.multi_label,
            review_threshold=self.review_threshold,
            names=(lambda c: codebook.get(c).name) if codebook else None,
        )


class LinearHead(_Head):
    """Logistic regression on the encoder's sentence embeddings."""

    method: ClassVar[str] = "head"
    role: ClassVar[Role] = "blend"
    costly: ClassVar[bool] = True

    def __init__(
        self,
        encoder: Encoder,
        *,
        C: float = 10.0,
        multi_label: bool = False,
        review_threshold: float = 0.5,
        codebook: Codebook | None = None,
    ) -> None:
        super().__init__(C=C, multi_label=multi_label, review_threshold=review_threshold, codebook=codebook)
        self.encoder = encoder

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' embeddings."""
        return self.encoder.encode(list(texts))

    def fold_features(self, fold: Fold, memo: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The fold's embeddings, as they are (nothing is encoded again)."""
        return fold.train.x, fold.x_test

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready parameters and arrays for saving."""
        params, arrays = self.model_.get_state()
        return {"classes": self.classes_, "model": params}, arrays

    @classmethod
    def from_state(cls, encoder: Encoder, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> LinearHead:
        """Rebuild a fitted head from get_state()."""
        model = LogisticModel.from_state(params["model"], arrays)
        obj = cls(encoder, C=model.C, multi_label=model.multi_label)
        obj.classes_ = list(params["classes"])
        obj.model_ = model
        return obj

    # ------------------------------------------------------------------ as a blend method (methods/component.py)

    @classmethod
    def grid(cls, settings: Settings) -> list[dict[str, Any]]:
        """Each C of the Cascade's c_grid."""
        return [{"C": c} for c in settings.c_grid]

    @classmethod
    def default_params(cls, settings: Settings) -> dict[str, Any]:
        """C 10."""
        return {"C": 10.0}

    @classmethod
    def fold_proba(cls, fold: Fold, grid: list[dict[str, Any]]) -> list[np.ndarray]:
        """The held-out rows' probabilities at each C, fitted from the smallest C up."""
        out: dict[int, np.ndarray] = {}
        warm: LogisticModel | None = None
        # Warm-started from the previous, smaller C's weights: the solver starts near its answer.
        for i in sorted(range(len(grid)), key=lambda i: grid[i]["C"]):
            warm = LogisticModel(C=grid[i]["C"], multi_label=fold.train.multi_label).fit(fold.train.x, fold.train.y, warm)
            out[i] = warm.proba(fold.x_test)
        return [out[i] for i in range(len(grid))]

    @classmethod
    def fit_component(cls, encoder: Encoder, rows: Rows, params: dict[str, Any]) -> LinearHead:
        """The head fitted on every row's embedding at the chosen C."""
        return cls(encoder, C=params["C"], multi_label=rows.multi_label).fit_features(rows.x, rows.y, rows.classes)

    @classmethod
    def load_component(cls, encoder: Encoder, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> LinearHead:
        """from_state(), as the blend's registry calls it."""
        return cls.from_state(encoder, params, arrays)

    def blend_proba(self, x: np.ndarray, texts: list[str], neighbours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The head's probabilities for the embeddings x."""
        return self.model_.proba(x)


class LexicalHead(_Head):
    """Logistic regression on character n-grams: catches wording the sentence embedding blurs."""

    method: ClassVar[str] = "lexical"
    role: ClassVar[Role] = "blend"
    costly: ClassVar[bool] = False  # a grid of one C: nothing to narrow

    def __init__(
        self,
        *,
        C: float = 10.0,
        multi_label: bool = False,
        review_threshold: float = 0.5,
        codebook: Codebook | None = None,
        ngram_range: tuple[int, int] = (2, 4),
        min_df: int = 2,
    ) -> None:
        super().__init__(C=C, multi_label=multi_label, review_threshold=review_threshold, codebook=codebook)
        self.ngrams = CharNgrams(ngram_range=ngram_range, min_df=min_df)

    def _prepare(self, texts: Sequence[str]) -> None:
        self.ngrams.fit(texts)

    def prepare(self, texts: Sequence[str]) -> Self:
        """Learn the n-gram vocabulary (before fit_features)."""
        self._prepare(texts)
        return self

    def features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """TF-IDF character n-gram rows."""
        return self.ngrams.transform(list(texts))

    def fold_features(self, fold: Fold, memo: dict[str, Any]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """The fold's texts as n-gram rows of this head's vocabulary (learnt on every training text, so a warm start fits).

        `memo` keeps the rows already made ("row": text -> row, "matrix": the rows), so later folds only slice.
        """
        from scipy import sparse

        index: dict[str, int] = memo.setdefault("row", {})
        missing = [t for t in dict.fromkeys([*fold.train.texts, *fold.texts_test]) if t not in index]
        if missing:
            made = self.features(missing)
            memo["matrix"] = made if "matrix" not in memo else sparse.vstack([memo["matrix"], made], format="csr")
            start = len(index)
            index.update((t, start + i) for i, t in enumerate(missing))
        matrix = memo["matrix"]
        return matrix[[index[t] for t in fold.train.texts]], matrix[[index[t] for t in fold.texts_test]]

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready parameters and arrays for saving (the vocabulary is stored in order of its columns)."""
        params, arrays = self.model_.get_state()
        terms = sorted(self.ngrams.vocabulary_, key=self.ngrams.vocabulary_.__getitem__)
        ngram = {"ngram_range": list(self.ngrams.ngram_range), "min_df": self.ngrams.min_df, "vocabulary": terms}
        return {"classes": self.classes_, "model": params, "ngrams": ngram}, {**arrays, "idf": self.ngrams.idf_}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> LexicalHead:
        """Rebuild a fitted head from get_state()."""
        model = LogisticModel.from_state(params["model"], arrays)
        ngram = params["ngrams"]
        obj = cls(C=model.C, multi_label=model.multi_label, ngram_range=tuple(ngram["ngram_range"]), min_df=ngram["min_df"])
        obj.ngrams.vocabulary_ = {term: i for i, term in enumerate(ngram["vocabulary"])}
        obj.ngrams.idf_ = arrays["idf"].astype(np.float32)
        obj.classes_ = list(params["classes"])
        obj.model_ = model
        return obj

    # ------------------------------------------------------------------ as a blend method (methods/component.py)

    @classmethod
    def grid(cls, settings: Settings) -> list[dict[str, Any]]:
        """The Cascade's one lexical_c: the lexical head's C is not tuned."""
        return [{"C": settings.lexical_c}]

    @classmethod
    def default_params(cls, settings: Settings) -> dict[str, Any]:
        """The Cascade's lexical_c."""
        return {"C": settings.lexical_c}

    @classmethod
    def fold_proba(cls, fold: Fold, grid: list[dict[str, Any]]) -> list[np.ndarray]:
        """The held-out rows' probabilities, with the n-gram vocabulary learnt on the fold's training texts only."""
        out = []
        for params in grid:
            head = cls(C=params["C"], multi_label=fold.train.multi_label).prepare(fold.train.texts)
            head.fit_features(head.features(fold.train.texts), fold.train.y, fold.train.classes)
            out.append(head.model_.proba(head.features(fold.texts_test)))
        return out

    @classmethod
    def fit_component(cls, encoder: Encoder, rows: Rows, params: dict[str, Any]) -> LexicalHead:
        """The head fitted on every row's n-grams at the chosen C."""
        head = cls(C=params["C"], multi_label=rows.multi_label).prepare(rows.texts)
        return head.fit_features(head.features(rows.texts), rows.y, rows.classes)

    @classmethod
    def load_component(cls, encoder: Encoder, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> LexicalHead:
        """from_state(), as the blend's registry calls it (no encoder needed)."""
        return cls.from_state(params, arrays)

    def blend_proba(self, x: np.ndarray, texts: list[str], neighbours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The head's probabilities for the texts' n-grams."""
        return self.model_.proba(self.features(texts))
