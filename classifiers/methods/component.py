"""What the Cascade's learned blend asks of a method: a hyper-parameter grid, out-of-fold scores, a fit, scores.

A blend method is a class (registered in classifiers/methods/__init__.py) with the class-level
members of BlendMethod; what its fit_component returns satisfies BlendComponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from autocode.embeddings import Encoder

Role = Literal["exact", "blend", "fallback"]


@dataclass(frozen=True)
class Rows:
    """Labelled rows as the learned methods see them: embeddings, label matrix, texts, column codes."""

    x: np.ndarray  # unit embeddings [n, d]
    y: np.ndarray  # 0/1 label matrix [n, len(classes)]
    texts: list[str]
    classes: list[str]
    multi_label: bool


@dataclass(frozen=True)
class Fold:
    """One cross-validation split: the training rows, the held-out rows, and each held-out row's nearest training rows."""

    train: Rows
    x_test: np.ndarray
    texts_test: list[str]
    neighbours: tuple[np.ndarray, np.ndarray]  # (scores, rows into train), best first, as deep as the largest k


class Settings(Protocol):
    """The Cascade settings a blend method may read its grid from (a new method may add its own, read with getattr)."""

    k_grid: tuple[int, ...]
    temperature_grid: tuple[float, ...]
    c_grid: tuple[float, ...]
    lexical_c: float


class BlendComponent(Protocol):
    """A fitted blend component."""

    classes_: list[str]

    def blend_proba(self, x: np.ndarray, texts: list[str], neighbours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Per-code probabilities [n, len(classes_)] for embedded texts; `neighbours` is the kNN search already made for them."""
        ...

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready parameters and arrays for saving."""
        ...


class BlendMethod(Protocol):
    """A method the learned blend can tune by cross-validation, weigh and save."""

    method: ClassVar[str]  # its name in `methods=`, in predictions' `method` field and in model.json
    role: ClassVar[Role]
    # Costly to fit: on a large training set its grid is ranked on one fold, and the other folds fit only the winner.
    costly: ClassVar[bool]

    @classmethod
    def grid(cls, settings: Settings) -> list[dict[str, Any]]:
        """The hyper-parameter settings cross-validation tries (ties go to the first)."""
        ...

    @classmethod
    def default_params(cls, settings: Settings) -> dict[str, Any]:
        """The hyper-parameters used when too few rows could be held out to choose them."""
        ...

    @classmethod
    def fold_proba(cls, fold: Fold, grid: list[dict[str, Any]]) -> list[np.ndarray]:
        """Probabilities [len(fold.x_test), L] for the held-out rows, one array per grid entry."""
        ...

    @classmethod
    def fit_component(cls, encoder: Encoder, rows: Rows, params: dict[str, Any]) -> BlendComponent:
        """The component fitted on every row at the chosen hyper-parameters."""
        ...

    @classmethod
    def load_component(cls, encoder: Encoder, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> BlendComponent:
        """Rebuild a fitted component from its get_state()."""
        ...
