"""What every method returns: a Prediction that says what, how sure, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Self


@dataclass(frozen=True)
class Evidence:
    """One reason behind a prediction: an alias hit, a neighbour, a label prototype, a chunk."""

    kind: str  # "alias" | "neighbour" | "label" | "chunk" | "llm" | "error"
    text: str
    code: str | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (by hand: `asdict` deep-copies, which cost ~5% of a batch run's time)."""
        return {"kind": self.kind, "text": self.text, "code": self.code, "score": self.score}


@dataclass(frozen=True)
class Prediction:
    """A decision for one text: best codes, calibrated confidence, the deciding method and its evidence."""

    codes: tuple[str, ...]
    confidence: float
    method: str
    needs_review: bool
    evidence: tuple[Evidence, ...] = ()
    labels: tuple[str, ...] = ()  # human-readable names, aligned with codes
    reason: str | None = None  # why it needs review when that is not just low confidence
    scores: dict[str, float] = field(default_factory=dict)  # per-code probabilities where the method has them

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class Classifier(Protocol):
    """The contract every method and the cascade share (scikit-learn style)."""

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Self: ...

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...
