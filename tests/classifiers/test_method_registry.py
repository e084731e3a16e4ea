"""The method registry: it lists exactly the shipped methods, and a method registered in it is built by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autocode.classifiers.cascade import DEFAULT_METHODS, Cascade
from autocode.classifiers.codebook import codebook_from_codes
from autocode.classifiers.methods import METHODS, blend_methods
from autocode.classifiers.methods.component import Fold, Rows, Settings
from autocode.classifiers.model import load_model, save_model
from autocode.embeddings import Encoder


def test_registry_lists_exactly_the_shipped_methods() -> None:
    assert list(METHODS) == ["alias", "knn", "head", "lexical", "zero-shot"]
    # The registry name is the one predictions carry in `method` and model.json stores.
    assert all(cls.method == name for name, cls in METHODS.items())
    assert {name: cls.role for name, cls in METHODS.items()} == {
        "alias": "exact", "knn": "blend", "head": "blend", "lexical": "blend", "zero-shot": "fallback",
    }
    assert list(blend_methods()) == ["knn", "head", "lexical"]
    assert list(blend_methods(("lexical", "alias", "knn"))) == ["knn", "lexical"]  # registry order, blend only
    assert tuple(METHODS) == DEFAULT_METHODS


class StandInPrior:
    """A stand-in blend method for this bookkeeping test: every text gets the training rows' code frequencies."""

    method = "stand-in-prior"
    role = "blend"
    costly = False

    def __init__(self, prior: np.ndarray, classes: list[str]) -> None:
        self.prior = prior
        self.classes_ = classes

    @staticmethod
    def _prior(y: np.ndarray, smoothing: float) -> np.ndarray:
        """Code frequencies of label matrix y, add-`smoothing`."""
        counts = y.sum(axis=0) + smoothing
        return counts / counts.sum()

    @classmethod
    def grid(cls, settings: Settings) -> list[dict[str, Any]]:
        """Two settings, so that cross-validation has something to choose."""
        return [{"smoothing": 1.0}, {"smoothing": 0.0}]

    @classmethod
    def default_params(cls, settings: Settings) -> dict[str, Any]:
        """Add-one smoothing."""
        return {"smoothing": 1.0}

    @classmethod
    def fold_proba(cls, fold: Fold, grid: list[dict[str, Any]]) -> list[np.ndarray]:
        """The fold's training prior for every held-out row."""
        return [np.tile(cls._prior(fold.train.y, p["smoothing"]), (len(fold.texts_test), 1)) for p in grid]

    @classmethod
    def fit_component(cls, encoder: Encoder, rows: Rows, params: dict[str, Any]) -> StandInPrior:
        """The prior of every row."""
        return cls(cls._prior(rows.y, params["smoothing"]), rows.classes)

    @classmethod
    def load_component(cls, encoder: Encoder, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> StandInPrior:
        """Rebuild from get_state()."""
        return cls(arrays["prior"], list(params["classes"]))

    def blend_proba(self, x: np.ndarray, texts: list[str], neighbours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The prior for every text."""
        return np.tile(self.prior, (len(texts), 1))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Classes as JSON, the prior as an array."""
        return {"classes": self.classes_}, {"prior": self.prior}


TEA = ["I drink green tea every morning", "a pot of black tea", "chamomile tea before bed", "iced tea in summer",
       "mint tea after lunch", "a mug of builder's tea", "jasmine tea with dinner", "oolong tea at the office",
       "rooibos tea on Sundays", "tea with milk and sugar", "a cup of herbal tea", "matcha tea latte"]
COFFEE = ["an espresso after lunch", "a flat white to go", "filter coffee at work", "a double shot latte",
          "decaf coffee in the evening", "cold brew coffee"]


def test_a_registered_method_is_built_tuned_blended_and_saved_by_name(minilm: Encoder, monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    book = codebook_from_codes(["tea", "coffee"], codebook_id="drinks")
    with pytest.raises(ValueError, match="unknown method"):
        Cascade(minilm, book, methods=("stand-in-prior",))
    monkeypatch.setitem(METHODS, StandInPrior.method, StandInPrior)
    texts, labels = TEA + COFFEE, [("tea",)] * len(TEA) + [("coffee",)] * len(COFFEE)
    cascade = Cascade(minilm, book, methods=("stand-in-prior",)).fit(texts, labels)
    assert cascade.metrics_["calibrated"] and cascade.method_name == "stand-in-prior"
    assert cascade.weights_ == {"stand-in-prior": 1.0}
    assert cascade.metrics_["hyperparameters"]["stand-in-prior"] in StandInPrior.grid(cascade)
    assert isinstance(cascade.components_["stand-in-prior"], StandInPrior)
    predictions = cascade.predict(["a cup of earl grey", "a cappuccino please"])
    # The prior knows only that tea is commoner: both texts get tea, under the stand-in's name.
    assert [p.codes for p in predictions] == [("tea",), ("tea",)]
    assert all(p.method == "stand-in-prior" for p in predictions)
    loaded = load_model(save_model(cascade, tmp_path / "model"), minilm)
    assert isinstance(loaded.components_["stand-in-prior"], StandInPrior)
    assert loaded.predict(["a cup of earl grey", "a cappuccino please"]) == predictions
