"""The public Python API: the estimators and functions `import autocode` exposes (scikit-learn style).

Each is a thin front over the engine the CLI and the HTTP service use (the same Cascade, the same employer
resolver, the same evaluation), so a notebook, `autocode code` and `/v1/classify` decide a text alike.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import pandas as pd

    from autocode.classifiers.cascade import Cascade
    from autocode.classifiers.codebook import Codebook
    from autocode.classifiers.employers.resolver import EmployerResult, SearchHit
    from autocode.classifiers.prediction import Prediction
    from autocode.service.stores.records import RecordStore

__all__ = ["Coder", "EmployerCoder", "builtin_codebooks", "evaluate", "load_codebook", "load_gazetteer", "load_sample"]

Codes = str | Sequence[str]  # one code, several codes, or several joined by "|"


def load_codebook(ref: str | os.PathLike[str]) -> Codebook:
    """A built-in codebook by id (isic4, gics, m49, employer-support) or a YAML/JSON codebook file."""
    from autocode.classifiers.codebook import load_codebook as load

    return load(ref if isinstance(ref, str) else Path(ref))


def builtin_codebooks() -> list[str]:
    """The ids of the codebooks that ship with autocode."""
    from autocode.classifiers.codebook import builtin_codebook_ids

    return builtin_codebook_ids()


def load_gazetteer(sources: Sequence[str] | None = None) -> pd.DataFrame:
    """The shipped employer gazetteer (one row per record: name, aliases, ISIC, GICS, country, region...)."""
    from autocode.classifiers.employers.gazetteer import load_gazetteer as load

    return load(sources) if sources is not None else load()


def load_sample() -> pd.DataFrame:
    """The shipped sample survey: 50 answers (employer, support) with a person's codes in `support_gold`."""
    from importlib.resources import files

    import pandas as pd

    with (files("autocode.data") / "samples" / "survey_sample.csv").open("rb") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def _cells(frame: pd.DataFrame, column: str) -> list[str]:
    """A frame column as text, blanks (None, NaN) as empty strings; a missing column is a KeyError naming the others."""
    if column not in frame.columns:
        raise KeyError(f"column {column!r} is not in the frame; it has {list(frame.columns)}")
    return ["" if v is None or v != v else str(v) for v in frame[column]]


def _as_codes(value: Codes) -> tuple[str, ...]:
    parts = value.split("|") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(p.strip() for p in parts if p and p.strip()))


class Coder:
    """Codes texts into a codebook: zero-shot from the codebook's own words, or trained on labelled rows.

    Parameters are keyword-only and stored as given (`get_params`); what `fit` learns ends in `_`:
    `cascade_` (the engine), `codebook_`, `classes_` (the codes it can predict), `threshold_` (the review
    threshold) and `metrics_` (cross-validated figures on the training rows).
    """

    def __init__(
        self,
        *,
        codebook: str | os.PathLike[str] | Codebook | None = None,
        encoder: str = "minilm",
        target_accuracy: float = 0.95,
        multi_label: bool | None = None,
        random_state: int = 0,
    ) -> None:
        self.codebook = codebook
        self.encoder = encoder
        self.target_accuracy = target_accuracy
        self.multi_label = multi_label
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, as scikit-learn's `get_params`."""
        return {"codebook": self.codebook, "encoder": self.encoder, "target_accuracy": self.target_accuracy,
                "multi_label": self.multi_label, "random_state": self.random_state}

    def set_params(self, **params: Any) -> Self:
        """Change parameters (refit afterwards), as scikit-learn's `set_params`."""
        for name, value in params.items():
            if name not in self.get_params():
                raise ValueError(f"unknown parameter {name!r}; choose from {sorted(self.get_params())}")
            setattr(self, name, value)
        return self

    def fit(self, texts: Sequence[str] | None = None, labels: Sequence[Codes] | None = None) -> Self:
        """Learn from labelled texts (a code, several codes, or "a|b" per text); with none, set up zero-shot."""
        from autocode.classifiers.cascade import Cascade
        from autocode.classifiers.codebook import Codebook, codebook_from_codes
        from autocode.embeddings import get_encoder

        texts = [str(t) for t in texts] if texts is not None else []
        labels = [_as_codes(v) for v in labels] if labels is not None else []
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if empty := [n for n, codes in enumerate(labels, start=1) if not codes]:
            raise ValueError(f"row {empty[0]}: no code ({len(empty)} rows have none); drop unlabelled rows before fit")
        multi = self.multi_label if self.multi_label is not None else any(len(c) > 1 for c in labels) or None
        if isinstance(self.codebook, Codebook):
            book = self.codebook
        elif self.codebook is not None:
            book = load_codebook(self.codebook)
        elif texts:
            book = codebook_from_codes(sorted({c for codes in labels for c in codes}), codebook_id="custom",
                                       name="codes found in the training rows", multi_label=bool(multi))
        else:
            raise ValueError("nothing to learn from: give a codebook (zero-shot) or labelled texts")
        cascade = Cascade(get_encoder(self.encoder), book, target_accuracy=self.target_accuracy,
                          multi_label=multi, random_state=self.random_state)
        return self._fitted(cascade.fit(texts, labels))

    def _fitted(self, cascade: Cascade) -> Self:
        self.cascade_ = cascade
        self.codebook_ = cascade.codebook
        self.classes_ = list(cascade.codebook.codes())
        self.metrics_ = dict(cascade.metrics_)
        self.threshold_ = self.metrics_.get("threshold")
        return self

    def _engine(self) -> Cascade:
        if not hasattr(self, "cascade_"):
            raise RuntimeError("this Coder is not fitted yet: call fit() (with no rows for zero-shot) or Coder.load()")
        return self.cascade_

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The best code of each text ("a|b" for several), whether or not it needs review."""
        return ["|".join(p.codes) for p in self.code(texts)]

    def code(self, texts: Sequence[str]) -> list[Prediction]:
        """A Prediction per text (codes, calibrated confidence, method, needs_review, evidence); each distinct text once."""
        from autocode.classifiers.coding import code_texts

        return code_texts(self._engine(), [str(t) for t in texts])[0]

    def code_frame(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        """A copy of `frame` with `<column>_code`, `_label`, `_confidence`, `_method`, `_needs_review`, `_evidence`."""
        from autocode.service.batch.runner import prediction_fields

        texts = _cells(frame, column)
        fields = [prediction_fields(p) for p in self.code(texts)]
        out = frame.copy()
        for name in ("code", "label", "confidence", "method", "needs_review", "evidence"):
            out[f"{column}_{name}"] = [f[name] for f in fields]
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model as a self-describing folder (atomically); `autocode code --model` reads it too."""
        from autocode.classifiers.model import save_model

        return save_model(self._engine(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Coder:
        """A Coder from a model folder written by `save` or `autocode train`."""
        from autocode.classifiers.model import load_model

        cascade = load_model(path)
        coder = cls(codebook=cascade.codebook, encoder=cascade.encoder.name, target_accuracy=cascade.target_accuracy,
                    multi_label=cascade.multi_label, random_state=cascade.random_state)
        return coder._fitted(cascade)


class EmployerCoder:
    """Resolves employer names to reference records (sector, country, region), or infers them and says so.

    `reference` swaps the shipped gazetteer for a table with its columns (for the whole process: the resolver
    is process-wide, as in the CLI and the server). Your own records live in `AUTOCODE_HOME/records.sqlite3`
    (or `records_path`) and apply on top. The first use of a reference encodes its names once and caches them.
    """

    def __init__(self, *, reference: pd.DataFrame | None = None, records_path: str | os.PathLike[str] | None = None) -> None:
        self.reference = reference
        self.records_path = records_path

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, as scikit-learn's `get_params`."""
        return {"reference": self.reference, "records_path": self.records_path}

    def fit(self) -> Self:
        """Load (or build, the first time) the name index over the reference and your records."""
        from autocode.service import employer_engine
        from autocode.service.stores.records import RecordStore

        employer_engine.use_reference(self.reference)
        self.store_: RecordStore = RecordStore(self.records_path) if self.records_path else employer_engine.default_store()
        self.resolver_ = employer_engine.get_resolver(self.store_)
        return self

    def _resolver(self) -> Any:
        from autocode.service import employer_engine

        if not hasattr(self, "resolver_"):
            self.fit()
        return employer_engine.get_resolver(self.store_)  # in step with records changed since fit

    def resolve(self, names: Sequence[str]) -> list[EmployerResult]:
        """One result per name: the matched record or inferred fields, per-field confidence, needs_review, evidence."""
        return list(self._resolver().resolve([str(n) for n in names]))

    def resolve_frame(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        """A copy of `frame` with `<column>_employer`, `_isic_section`, `_country`, `_region`, ... `_needs_review`."""
        names = _cells(frame, column)
        unique = list(dict.fromkeys(names))
        decided = dict(zip(unique, (r.fields() for r in self.resolve(unique)), strict=True))
        out = frame.copy()
        for name in next(iter(decided.values()), {}):
            out[f"{column}_{name}"] = [decided[n][name] for n in names]
        return out

    def search(self, text: str, *, k: int = 10, country: str | None = None, sector: str | None = None) -> list[SearchHit]:
        """The records most like `text`, optionally within a country (ISO2) or ISIC section/division."""
        return list(self._resolver().search(text, k, country=country, sector=sector))

    def add_record(self, **fields: Any) -> int:
        """Add your own record (name, country, isic_division, aliases...); later lookups find it. Returns its id."""
        from autocode.service import employer_engine

        self._resolver()
        record_id = self.store_.add(fields)
        employer_engine.sync(self.store_)
        return record_id


def evaluate(
    predicted: Sequence[str],
    gold: Sequence[str],
    *,
    confidence: Sequence[float] | None = None,
    needs_review: Sequence[bool] | None = None,
    codebook: Codebook | None = None,
    multi_label: bool = False,
    target_accuracy: float = 0.95,
) -> dict[str, Any]:
    """Accuracy, macro-F1, Cohen's kappa, per-label figures, coverage at each threshold and calibration error."""
    from autocode.classifiers.evaluate import evaluate as score

    return score(list(predicted), list(gold), confidence, needs_review, codebook=codebook, multi_label=multi_label,
                 target_accuracy=target_accuracy)
