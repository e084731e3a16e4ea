"""What a review queue asks of the model behind it: suggestions for an answer, learning from a decision, undoing it.

`CodeCoder` reviews a codebook or trained model's coded column: suggestions are the classifier's best codes and
the next alternatives; a decision becomes a stored correction (the feedback store, the same one `autocode code`
and the server replay) and enters the feedback memory at once. `EmployerCoder` reviews `autocode employers`
output: suggestions are the resolver's decision and its candidate records; a decision makes the answer an alias
of the chosen record (or a new record) in the records store, so the resolver matches it from then on.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from rapidfuzz import fuzz, process

from autocode.errors import InvalidError, NotFoundError

__all__ = ["CodeCoder", "Coder", "EmployerCoder", "default_reviewer"]

ALTERNATIVES = 9  # keys 1-9 pick one


def default_reviewer() -> str:
    """Who decides when nobody says: the login name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "reviewer"


class Coder(Protocol):
    """The model side of a review queue."""

    kind: str  # "codes" | "employers"
    near: float  # cosine at which a decided answer may change another answer's suggestion

    def suggest(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per answer: best codes, labels, confidence, needs_review, method, alternatives, evidence (and fields)."""
        ...

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of the answers (the encoder caches each text, so none is encoded twice)."""
        ...

    def learn(self, text: str, choice: dict[str, Any], reviewer: str, remember: bool = True) -> dict[str, Any]:
        """Make the model remember a decision (only check it, where `remember` is off and the model allows);
        returns what `unlearn` needs to take it back."""
        ...

    def unlearn(self, text: str, undo: dict[str, Any]) -> None:
        """Take back what `learn` did."""
        ...

    def search(self, query: str, k: int = 10) -> list[dict[str, Any]]:
        """Codes (or records) a person may pick, by name or code."""
        ...

    def decided_fields(self, text: str, choice: dict[str, Any]) -> dict[str, Any]:
        """The output columns (without the column prefix) for a person's decision."""
        ...


class CodeCoder:
    """Review of a codebook's or a trained model's coded column; decisions go through the feedback memory."""

    kind = "codes"

    def __init__(self, built: Any, feedback_store: Any) -> None:
        from autocode.service.builder import FeedbackFeed

        self.built = built
        self.memory = built.memory
        self.codebook = built.memory.codebook
        self.key = built.source.target.key
        self.store = feedback_store
        self.feed = FeedbackFeed(feedback_store)
        self.feed.catch_up(self.memory, self.key)
        self.near = float(self.memory.hint)

    def suggest(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """The memory's predictions, with alternatives from the per-code scores."""
        self.feed.catch_up(self.memory, self.key)
        return [self._suggestion(p) for p in self.memory.predict(list(texts))]

    def _suggestion(self, p: Any) -> dict[str, Any]:
        ranked = sorted(p.scores.items(), key=lambda kv: -kv[1])
        best = set(p.codes)
        alternatives = [{"codes": [c], "labels": [self._name(c)], "score": round(float(s), 4)}
                        for c, s in ranked if c not in best][: ALTERNATIVES - 1]
        first = {"codes": list(p.codes), "labels": list(p.labels) or [self._name(c) for c in p.codes],
                 "score": round(float(p.confidence), 4)}
        return {
            "codes": list(p.codes), "labels": first["labels"], "confidence": round(float(p.confidence), 4),
            "needs_review": bool(p.needs_review), "method": p.method, "reason": p.reason,
            "alternatives": ([first] if p.codes else []) + alternatives,
            "evidence": [e.to_dict() for e in p.evidence],
        }

    def _name(self, code: str) -> str:
        return self.codebook.get(code).name if code in self.codebook else code

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder's unit vectors."""
        return np.asarray(self.memory.encoder.encode(list(texts)), dtype=np.float32)

    def learn(self, text: str, choice: dict[str, Any], reviewer: str, remember: bool = True) -> dict[str, Any]:
        """Store the correction (filed under the target's key) and add it to the memory."""
        codes = [str(c) for c in choice.get("codes") or []]
        unknown = [c for c in codes if c not in self.codebook]
        if not codes or unknown:
            raise InvalidError(f"codes: {', '.join(unknown) or '(none)'} not in codebook {self.codebook.id!r}")
        if len(codes) > 1 and not self.memory.multi_label:
            raise InvalidError(f"codes: {len(codes)} given, but codebook {self.codebook.id!r} is single-label")
        if not remember:
            return {}
        row = self.store.add(self.key, text, codes, note="review", key_id=reviewer)
        self.feed.catch_up(self.memory, self.key)
        return {"feedback_id": int(row["feedback_id"])}

    def unlearn(self, text: str, undo: dict[str, Any]) -> None:
        """Delete the stored correction and forget it in the memory."""
        if "feedback_id" in undo:
            self.store.remove(int(undo["feedback_id"]))
            self.memory.forget(text)

    def search(self, query: str, k: int = 10) -> list[dict[str, Any]]:
        """Codes whose code or name is like the query (an exact code first)."""
        entries = {label.code: f"{label.code} {label.name}" for label in self.codebook.labels}
        query = query.strip()
        if not query:
            return [{"codes": [c], "labels": [self._name(c)], "score": 0.0} for c in list(entries)[:k]]
        hits = process.extract(query, entries, scorer=fuzz.WRatio, limit=k)
        exact = [c for c in entries if c.casefold() == query.casefold()]
        ordered = exact + [code for _, _, code in hits if code not in exact]
        scores = {code: s for _, s, code in hits}
        return [{"codes": [c], "labels": [self._name(c)], "score": round(scores.get(c, 100.0) / 100, 4)}
                for c in ordered[:k]]

    def decided_fields(self, text: str, choice: dict[str, Any]) -> dict[str, Any]:
        """code/label columns of the chosen codes (empty for uncodable)."""
        codes = [str(c) for c in choice.get("codes") or []]
        return {"code": "|".join(codes), "label": "|".join(self._name(c) for c in codes)}


class EmployerCoder:
    """Review of `autocode employers` output; a decision makes the answer an alias of a record in the records store."""

    kind = "employers"
    near = 0.90  # an alias changes the match of near spellings; further off, nothing the resolver does changes

    def __init__(self, encoder: str | None = None) -> None:
        from autocode.service.employer_engine import ENCODER, default_store, get_resolver

        self.encoder_key = encoder or ENCODER
        self.store = default_store()
        self.resolver = get_resolver(self.store, encoder=self.encoder_key)

    def _current(self) -> Any:
        from autocode.service.employer_engine import get_resolver

        self.resolver = get_resolver(self.store, encoder=self.encoder_key)  # synced to the store's latest records
        return self.resolver

    def suggest(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """The resolver's decision per answer, with its candidate records as the alternatives."""
        resolver = self._current()
        out = []
        for result in resolver.resolve(list(texts)):
            hits = resolver.search(result.text, ALTERNATIVES) if result.text.strip() else []
            alternatives = [_hit(h) for h in hits]
            if result.record_id is not None and all(a["record_id"] != result.record_id for a in alternatives):
                alternatives.insert(0, {"record_id": result.record_id, "codes": [str(result.record_id)],
                                        "labels": [result.employer], "name": result.employer, "country": result.country,
                                        "isic_section": result.isic_section, "sector": result.sector,
                                        "score": round(result.match_score, 4)})
            fields = result.fields()
            out.append({
                "codes": [str(result.record_id)] if result.record_id is not None else [],
                "labels": [result.employer or f"(inferred) {result.sector or 'sector unknown'}"],
                "confidence": round(result.confidence, 4), "needs_review": bool(result.needs_review),
                "method": result.kind, "reason": None, "alternatives": alternatives[:ALTERNATIVES],
                "evidence": [{"kind": e.kind, "text": e.text, "code": e.code, "score": e.score} for e in result.evidence],
                "fields": {k: v for k, v in fields.items() if k != "evidence"},
            })
        return out

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The resolver's encoder's unit vectors."""
        from autocode.embeddings import get_encoder

        return np.asarray(get_encoder(self.encoder_key).encode(list(texts)), dtype=np.float32)

    def learn(self, text: str, choice: dict[str, Any], reviewer: str, remember: bool = True) -> dict[str, Any]:
        """Add the answer as an alias of the chosen record, or create the record the person described (always:
        the export's columns come from the record)."""
        from autocode.service.employer_engine import reference_record, sync

        record = choice.get("record")
        if record:
            fields = {k: v for k, v in dict(record).items() if v not in (None, "")}
            if not str(fields.get("name", "")).strip():
                raise InvalidError("record.name: required for a new record")
            aliases = [a for a in fields.get("aliases", []) if a]
            if text.casefold() != str(fields["name"]).casefold():
                aliases.append(text)
            fields["aliases"] = aliases
            record_id = self.store.add(fields)
            sync(self.store)
            return {"created": record_id, "record_id": record_id}
        if choice.get("record_id") in (None, ""):
            raise InvalidError("record_id: pick a candidate record, or describe a new record")
        record_id = int(choice["record_id"])
        row = self.store.get(record_id) or reference_record(record_id)
        if row is None:
            raise NotFoundError(f"record_id: no record {record_id}")
        aliases = [str(a) for a in (row.get("aliases") or [])]
        if text in aliases or text.casefold() == str(row.get("name", "")).casefold():
            return {"record_id": record_id}
        had_row = self.store.get(record_id) is not None
        self.store.upsert({"record_id": record_id, "aliases": [*aliases, text]})
        sync(self.store)
        return {"record_id": record_id, "alias": text, "aliases_before": aliases, "had_row": had_row}

    def unlearn(self, text: str, undo: dict[str, Any]) -> None:
        """Remove the created record, or the alias the decision added."""
        from autocode.service.employer_engine import sync

        if "created" in undo:
            self.store.remove(int(undo["created"]))
        elif "alias" in undo:
            if undo.get("had_row"):
                self.store.upsert({"record_id": int(undo["record_id"]), "aliases": undo["aliases_before"]})
            else:
                self.store.drop_correction(int(undo["record_id"]))
        sync(self.store)

    def search(self, query: str, k: int = 10) -> list[dict[str, Any]]:
        """Records like the query, by name or by meaning."""
        return [_hit(h) for h in self._current().search(query, k)] if query.strip() else []

    def decided_fields(self, text: str, choice: dict[str, Any]) -> dict[str, Any]:
        """The chosen record's columns, as the resolver gives them for the answer (now one of its aliases)."""
        from autocode.classifiers.employers.cues import place_of
        from autocode.service.employer_engine import reference_record

        record_id = int(choice["record_id"])
        result = self._current().resolve([text])[0]
        fields = {k: v for k, v in result.fields().items() if k != "evidence"}
        row = self.store.get(record_id) or reference_record(record_id) or {}
        if result.record_id != record_id:
            # The resolver still prefers another record (a place in the answer, say): the person's record wins.
            fields.update(employer=str(row.get("name", "")), isic_section=str(row.get("isic_section", "")),
                          isic_division=str(row.get("isic_division", "")), gics_sector=str(row.get("gics_sector", "")),
                          sector="")
        country = str(row.get("country", "") or fields.get("country", ""))
        region, subregion = place_of(country) if country else ("", "")
        fields.update(country=country, region=region, subregion=subregion, match_score=1.0)
        return fields


def _hit(h: Any) -> dict[str, Any]:
    return {"record_id": h.record_id, "codes": [str(h.record_id)], "labels": [h.name], "name": h.name,
            "country": h.country, "isic_section": h.isic_section, "sector": h.sector, "score": round(float(h.score), 4)}
