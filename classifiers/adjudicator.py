"""The LLM adjudicator: for answers the cascade would send to review, a language model chooses from the shortlist.

It only ever picks among the top-k candidate codes (or says `none`): the JSON schema it must answer in lists
exactly those codes. It sees the codebook's purpose, each candidate's name and description, the nearest
coded examples from the retrieval evidence, and the answer. How the request reaches a model is not its
business: it gets a `chat(messages, schema) -> dict` function (an OpenAI-compatible client lives in
service/), and a cache so a rerun asks nothing twice. A chat that fails, times out or answers outside the
schema never fails the batch: the item stays in review with the reason, and `stats` counts it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.normalise import has_words
from autocode.classifiers.prediction import Evidence, Prediction

__all__ = ["Adjudicator", "AdjudicatorStats", "AnswerCache", "ChatFn", "LLMError", "answer_schema", "build_messages"]

NONE = "none"


class LLMError(RuntimeError):
    """A chat call that gave no usable answer; `kind` is unreachable, timeout, http, or invalid."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


ChatFn = Callable[[list[dict[str, str]], dict[str, Any]], dict[str, Any]]


class AnswerCache(Protocol):
    """Answers by key: (model, prompt, schema) hashed."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...


@dataclass
class AdjudicatorStats:
    """What the adjudicator did in this process."""

    asked: int = 0  # items sent to adjudication
    cached: int = 0  # answered from the cache, no call made
    calls: int = 0  # chat calls made (a retry counts)
    decided: int = 0  # items given a code by the model
    none: int = 0  # items the model said no candidate fits
    failed: int = 0  # items left in review because the model gave no usable answer
    over_budget: int = 0  # items left in review because the call budget was spent

    def to_dict(self) -> dict[str, int]:
        """A JSON-ready dict."""
        return asdict(self)


def answer_schema(candidates: Sequence[str], *, multi_label: bool = False) -> dict[str, Any]:
    """The JSON schema an answer must follow: candidate codes or `none`, a confidence, a one-sentence reason."""
    choices = [*candidates, NONE]
    pick: dict[str, Any] = {"type": "string", "enum": choices}
    if multi_label:
        pick = {"type": "array", "items": pick, "minItems": 1, "maxItems": max(1, len(candidates))}
    return {
        "type": "object",
        "properties": {
            "codes" if multi_label else "code": pick,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reason": {"type": "string", "maxLength": 300},
        },
        "required": ["codes" if multi_label else "code", "confidence", "reason"],
        "additionalProperties": False,
    }


def build_messages(codebook: Codebook, text: str, candidates: Sequence[str], examples: Sequence[tuple[str, str]]
                   ) -> list[dict[str, str]]:
    """The chat prompt: the codebook's purpose, the candidates with descriptions, similar coded examples, the text."""
    purpose = f"{codebook.name}. {codebook.description}".strip().rstrip(".") + "."
    lines = [f"- {code}: {codebook.get(code).name}" + (f" — {codebook.get(code).description}" if codebook.get(code).description else "")
             for code in candidates]
    lines.append(f"- {NONE}: none of the codes above fits the answer")
    parts = ["Candidate codes:\n" + "\n".join(lines)]
    if examples:
        parts.append("Coded examples similar to the answer:\n" + "\n".join(f"- {json.dumps(t, ensure_ascii=False)} -> {c}" for t, c in examples))
    parts.append(f"Answer to code: {json.dumps(text, ensure_ascii=False)}")
    many = "one or more codes" if codebook.multi_label else "the one code"
    parts.append(f"Reply in JSON with {many} that fit best (or \"{NONE}\"), your confidence from 0 to 1, and a one-sentence reason.")
    system = (f"You code free-text survey answers into the codebook \"{purpose}\" "
              "Choose only among the candidate codes given. Reply with JSON only.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


@dataclass
class _Ask:
    index: int
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    candidates: list[str]
    key: str
    answer: dict[str, Any] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Adjudicator:
    """Wraps a classifier: its review items go to the LLM, which picks from each item's shortlist or says none."""

    method = "llm"

    def __init__(self, base: Any, chat: ChatFn, *, model: str, cache: AnswerCache | None = None, top_k: int = 5,
                 n_examples: int = 5, budget: int | None = None, max_concurrency: int = 4, accept: float = 0.9) -> None:
        self.base, self.chat, self.model, self.cache = base, chat, model, cache
        self.codebook: Codebook = base.codebook
        self.top_k, self.n_examples, self.budget = top_k, n_examples, budget
        self.max_concurrency, self.accept = max(1, max_concurrency), accept
        self.stats = AdjudicatorStats()
        self._lock = threading.Lock()

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Adjudicator:
        """Fit the wrapped classifier (the adjudicator itself learns nothing)."""
        self.base.fit(texts, labels)
        return self

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """The base predictions, with the review items decided by the LLM where it gives a usable answer."""
        texts = list(texts)
        out = list(self.base.predict(texts))
        asks = [self._ask(i, texts[i], p) for i, p in enumerate(out) if self._wants(texts[i], p)]
        if not asks:
            return out
        with self._lock:
            self.stats.asked += len(asks)
        pending = self._from_cache(asks)
        if pending:
            with ThreadPoolExecutor(min(self.max_concurrency, len(pending)), thread_name_prefix="autocode-llm") as pool:
                list(pool.map(self._call, pending))
        for ask in asks:
            out[ask.index] = self._decide(out[ask.index], ask)
        return out

    # ------------------------------------------------------------------ building the question

    def _wants(self, text: str, p: Prediction) -> bool:
        # Only review items with words in them: "no words to code" is not a question for a model.
        return p.needs_review and has_words(text) and p.method != "invalid"

    def _shortlist(self, p: Prediction) -> list[str]:
        ranked = [c for c, _ in sorted(p.scores.items(), key=lambda cs: -cs[1]) if c in self.codebook]
        for code in (*p.codes, *(e.code for e in p.evidence if e.code)):
            if code and code in self.codebook and code not in ranked:
                ranked.append(code)
        return list(dict.fromkeys(ranked))[: self.top_k] or self.codebook.codes()[: self.top_k]

    def _examples(self, p: Prediction) -> list[tuple[str, str]]:
        seen, out = set(), []
        for e in p.evidence:
            if e.kind in ("neighbour", "label", "feedback", "alias") and e.code and e.text not in seen:
                seen.add(e.text)
                out.append((e.text, e.code.split("|")[0]))
            if len(out) >= self.n_examples:
                break
        return out

    def _ask(self, index: int, text: str, p: Prediction) -> _Ask:
        candidates = self._shortlist(p)
        messages = build_messages(self.codebook, text, candidates, self._examples(p))
        schema = answer_schema(candidates, multi_label=self.codebook.multi_label)
        key = hashlib.sha256(json.dumps([self.model, messages, schema], sort_keys=True).encode()).hexdigest()
        return _Ask(index, messages, schema, candidates, key)

    # ------------------------------------------------------------------ asking

    def _from_cache(self, asks: list[_Ask]) -> list[_Ask]:
        pending: list[_Ask] = []
        first: dict[str, _Ask] = {}
        for ask in asks:
            hit = self.cache.get(ask.key) if self.cache is not None else None
            if hit is not None:
                ask.answer = hit
                with self._lock:
                    self.stats.cached += 1
            elif ask.key in first:
                ask.extra["twin"] = first[ask.key]  # the same question twice in one batch is asked once
            else:
                first[ask.key] = ask
                pending.append(ask)
        return pending

    def _spend(self) -> bool:
        with self._lock:
            if self.budget is not None and self.stats.calls >= self.budget:
                return False
            self.stats.calls += 1
            return True

    def _call(self, ask: _Ask) -> None:
        last = "no answer"
        for _attempt in range(2):  # an answer outside the schema is asked once more, then given up
            if not self._spend():
                ask.error = "over_budget"
                return
            try:
                answer = self.chat(ask.messages, ask.schema)
            except LLMError as exc:
                if exc.kind != "invalid":
                    ask.error = f"{exc.kind}: {exc}"
                    return
                last = str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 (a transport bug must not stop a batch either)
                ask.error = f"{type(exc).__name__}: {exc}"
                return
            problem = self._check(answer, ask.candidates)
            if problem is None:
                ask.answer = answer
                if self.cache is not None:
                    self.cache.put(ask.key, answer)
                return
            last = problem
        ask.error = f"invalid: {last}"

    def _answered(self, answer: dict[str, Any]) -> Any:
        # A multi-label answer may still give one `code`; _check and _decide must read it the same way.
        return answer.get("codes", [answer.get("code")]) if self.codebook.multi_label else [answer.get("code")]

    def _check(self, answer: Any, candidates: list[str]) -> str | None:
        if not isinstance(answer, dict):
            return f"not a JSON object: {str(answer)[:80]}"
        codes = self._answered(answer)
        if not isinstance(codes, list) or not codes or any(c not in [*candidates, NONE] for c in codes):
            return f"code(s) {codes!r} not among the candidates"
        confidence = answer.get("confidence")
        if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
            return f"confidence {confidence!r} is not a number from 0 to 1"
        if not isinstance(answer.get("reason", ""), str):
            return "reason is not text"
        return None

    # ------------------------------------------------------------------ turning an answer into a prediction

    def _decide(self, p: Prediction, ask: _Ask) -> Prediction:
        twin = ask.extra.get("twin")
        if twin is not None:
            ask.answer, ask.error = twin.answer, twin.error
        if ask.answer is None:
            with self._lock:
                if ask.error == "over_budget":
                    self.stats.over_budget += 1
                else:
                    self.stats.failed += 1
            why = "the LLM call budget for this run is spent" if ask.error == "over_budget" else f"LLM gave no usable answer ({ask.error})"
            note = Evidence("note", f"adjudicator: {why}")
            return replace(p, evidence=(*p.evidence, note), reason=p.reason or why)
        answer = ask.answer
        codes: list[str] = [c for c in self._answered(answer) if c != NONE]  # _check let only candidates through
        llm_conf = float(answer["confidence"])
        reason = str(answer.get("reason", "")).strip()[:300]
        if not codes:
            with self._lock:
                self.stats.none += 1
            said = Evidence("llm", reason or "none of the candidates fits", NONE, round(llm_conf, 4))
            return replace(p, evidence=(said, *p.evidence), reason=f"LLM: none of the candidates fits ({reason})")
        with self._lock:
            self.stats.decided += 1
        codes = list(dict.fromkeys(codes))
        combined = self._combine(p, codes, llm_conf)
        said = Evidence("llm", reason, "|".join(codes), round(llm_conf, 4))
        how = Evidence("note", f"LLM confidence {llm_conf:.2f} combined with retrieval "
                               f"({'agrees' if set(codes) == set(p.codes) else 'disagrees'}, retrieval {p.confidence:.2f}) = {combined:.2f}; "
                               f"candidates: {', '.join(ask.candidates)}")
        review = combined < self.accept
        if review and set(codes) != set(p.codes) and combined < p.confidence:
            # A weak overruling is not a better guess than retrieval's: the item keeps its code, with the model's view as evidence.
            return replace(p, evidence=(said, how, *p.evidence), reason=p.reason or f"LLM suggested {'|'.join(codes)} with too little support")
        return Prediction(tuple(codes), round(combined, 6), self.method, review, (said, how, *p.evidence),
                          tuple(self.codebook.get(c).name for c in codes), None if not review else "LLM answer below the acceptance level",
                          p.scores)

    @staticmethod
    def _combine(p: Prediction, codes: list[str], llm_conf: float) -> float:
        # Two signals that agree reinforce each other (noisy-OR); a disagreement is discounted by how sure retrieval was.
        base = min(max(float(p.confidence), 0.0), 1.0)
        if set(codes) == set(p.codes):
            return 1.0 - (1.0 - base) * (1.0 - llm_conf)
        return llm_conf * (1.0 - base)
