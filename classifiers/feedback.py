"""FeedbackMemory: people's corrections decide the next prediction for the same (or nearly the same) text.

How it decides one text
    1. exact: the text's normalise_key is a corrected text's key -> the correction's codes, confidence 1.
    2. neighbour: the nearest corrected text has cosine >= `near` -> its codes, confidence = the cosine.
    3. otherwise the wrapped classifier decides; a correction with cosine >= `hint` is only added to
       the evidence, so a reviewer sees it without it changing the decision.

Corrections live in memory (the service replays its feedback store into add_many at start-up). A later
correction of the same normalised text replaces the earlier one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Self, cast

import numpy as np

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.normalise import normalise_key
from autocode.classifiers.prediction import Classifier, Evidence, Prediction
from autocode.embeddings import Encoder, VectorIndex

# Measured with `.venv/bin/python -m benchmarks.feedback_near` (Banking77 train+test, all-MiniLM-L6-v2,
# 13,071 distinct texts). Share of text pairs at cosine >= t that share their intent:
#     t = 0.85: 0.944 (68,166 pairs)   0.90: 0.971 (26,905)   0.95: 0.982 (6,151)   0.97: 0.985 (2,214)
# and, the decision made here, a test text taking the label of its nearest train text at cosine >= t:
#     t = 0.85: 0.957 (78% reached)    0.90: 0.964 (60%)      0.95: 0.975 (31%)     0.97: 0.978 (17%)
# Pairs alone first pass 0.97 at 0.90, but only just, and the nearest-correction decision is still 0.964
# there; 0.95 is the lowest t at which both pass. A neighbour decision skips review, so the stricter holds.
DEFAULT_NEAR = 0.95
# Below `near`, a correction this similar is worth showing a reviewer, but not worth deciding by.
DEFAULT_HINT = 0.80


@dataclasses.dataclass(frozen=True)
class _Correction:
    id: int
    key: str
    text: str
    codes: tuple[str, ...]
    note: str


class FeedbackMemory:
    """A Classifier that lets people's corrections override the wrapped classifier; see the module docstring."""

    method = "feedback"

    def __init__(
        self, base: Classifier, encoder: Encoder, codebook: Codebook, *, near: float = DEFAULT_NEAR, hint: float = DEFAULT_HINT
    ) -> None:
        if not 0.0 < hint <= near <= 1.0:
            raise ValueError(f"need 0 < hint <= near <= 1, got hint={hint}, near={near}")
        self.base = base
        self.encoder = encoder
        self.codebook = codebook
        self.near = near
        self.hint = hint
        # A base built with its own multi_label setting (a Cascade can override the codebook's) wins.
        self.multi_label = bool(getattr(base, "multi_label", codebook.multi_label))
        self._lock = threading.RLock()
        self._by_key: dict[str, _Correction] = {}  # insertion order = order of the latest corrections
        self._by_id: dict[int, _Correction] = {}
        self._index = VectorIndex(encoder.name, encoder.dim, kind="flat")
        self._next_id = 0

    # ------------------------------------------------------------------ memory

    def __len__(self) -> int:
        """How many corrected texts are remembered (one per normalised text)."""
        return len(self._by_key)

    def corrections(self) -> list[dict[str, Any]]:
        """The remembered corrections, oldest first: text, its key, codes and note."""
        with self._lock:
            return [{"text": c.text, "key": c.key, "codes": list(c.codes), "note": c.note} for c in self._by_key.values()]

    def add(self, text: str, codes: Sequence[str], note: str = "") -> None:
        """Remember that `text` should be coded `codes`; replaces an earlier correction of the same text."""
        self.add_many([(text, codes, note)])

    def add_many(self, items: Iterable[tuple[str, Sequence[str], str]]) -> None:
        """Remember several corrections at once (one encode call); all are checked before any is kept."""
        checked = [self._check(text, codes, note) for text, codes, note in items]
        if not checked:
            return
        # Within one batch the last correction of a text wins, as it would across calls.
        latest = {key: (text, codes, note) for key, text, codes, note in checked}
        texts = [text for text, _, _ in latest.values()]
        vectors = self.encoder.encode(texts)
        with self._lock:
            ids = []
            for key, (text, codes, note) in latest.items():
                old = self._by_key.pop(key, None)
                # A replaced text keeps its id, so the index overwrites its vector instead of holding two.
                cid = old.id if old is not None else self._new_id()
                correction = _Correction(cid, key, text, codes, note)
                self._by_key[key] = self._by_id[cid] = correction
                ids.append(cid)
            self._index.upsert(np.asarray(ids, dtype=np.int64), vectors)

    def forget(self, text: str) -> bool:
        """Drop the correction of `text` (an undone decision); False when none is remembered."""
        with self._lock:
            old = self._by_key.pop(normalise_key(text), None)
            if old is None:
                return False
            del self._by_id[old.id]
            self._index.remove(np.asarray([old.id], dtype=np.int64))
            return True

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _check(self, text: str, codes: Sequence[str], note: str) -> tuple[str, str, tuple[str, ...], str]:
        """(key, text, codes, note) of a valid correction; ValueError naming what is wrong (TypeError for a non-string)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        key = normalise_key(text)
        if not key:
            raise ValueError("text is empty: there is nothing to correct")
        if isinstance(codes, str):
            codes = [codes]  # a lone code is an easy slip, and unambiguous
        codes = tuple(dict.fromkeys(codes))
        if not codes:
            raise ValueError(f"no code given for {text!r}: a correction names at least one code")
        unknown = [c for c in codes if c not in self.codebook]
        if unknown:
            raise ValueError(f"code(s) {', '.join(map(repr, unknown))} not in codebook {self.codebook.id!r}")
        if len(codes) > 1 and not self.multi_label:
            raise ValueError(f"{len(codes)} codes given, but codebook {self.codebook.id!r} is single-label")
        return key, text, codes, str(note or "")

    # ------------------------------------------------------------------ Classifier

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Self:
        """Fit the wrapped classifier; the corrections are kept."""
        self.base.fit(texts, labels)
        return self

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text: a correction's codes where one matches, else the wrapped classifier's."""
        texts = list(texts)
        if not texts:
            return []
        with self._lock:
            if not self._by_key:
                return self.base.predict(texts)
            keys = [normalise_key(t) for t in texts]
            exact = [self._by_key.get(k) for k in keys]
            nearest: list[tuple[_Correction, float] | None] = [None] * len(texts)
            # A text with no words has no meaning to be near anything: the wrapped classifier handles it.
            search = [i for i, (k, hit) in enumerate(zip(keys, exact, strict=True)) if hit is None and k]
            if search:
                scores, ids = self._index.search(self.encoder.encode([texts[i] for i in search]), 1)
                for i, s, cid in zip(search, scores[:, 0], ids[:, 0], strict=True):
                    if cid >= 0:
                        nearest[i] = (self._by_id[int(cid)], float(s))
        out: list[Prediction | None] = [None] * len(texts)
        rest = []
        for i, hit in enumerate(exact):
            near = nearest[i]
            if hit is not None:
                out[i] = self._decide(hit, 1.0, "feedback")
            elif near is not None and near[1] >= self.near:
                out[i] = self._decide(*near, "feedback-neighbour")
            else:
                rest.append(i)
        if rest:
            for i, p in zip(rest, self.base.predict([texts[i] for i in rest]), strict=True):
                found = nearest[i]
                if found is not None and found[1] >= self.hint:
                    p = dataclasses.replace(p, evidence=(*p.evidence, _evidence(*found)))
                out[i] = p
        return cast(list[Prediction], out)  # every None slot was filled above

    def _decide(self, correction: _Correction, similarity: float, method: str) -> Prediction:
        evidence = [_evidence(correction, similarity)]
        if correction.note:
            evidence.append(Evidence("note", f"feedback note: {correction.note}"))
        return Prediction(
            codes=correction.codes,
            confidence=round(min(similarity, 1.0), 6),
            method=method,
            needs_review=False,
            evidence=tuple(evidence),
            labels=tuple(self.codebook.get(c).name for c in correction.codes),
            scores={c: round(min(similarity, 1.0), 4) for c in correction.codes},
        )


def _evidence(correction: _Correction, similarity: float) -> Evidence:
    """A correction as evidence; several codes are joined with '|' as neighbour evidence does."""
    return Evidence("feedback", correction.text, "|".join(correction.codes), round(min(similarity, 1.0), 4))
