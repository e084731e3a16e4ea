"""The adjudicator's bookkeeping with the real MiniLM and a real zero-shot cascade, and a scripted stand-in chat.

The stand-in (`scripted_chat`) replaces only the language model, so the shortlist, the schema, retries, the
budget, the cache and failure isolation are checked exactly; the real server is exercised in
tests/service/test_llm_server.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from autocode.classifiers.adjudicator import NONE, Adjudicator, LLMError, answer_schema
from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.prediction import Prediction
from autocode.embeddings import Encoder

TEXTS = ["my manager let me leave early on class days", "they sort of helped, not sure how", "the company paid for it all"]


@pytest.fixture(scope="module")
def base(minilm: Encoder) -> Cascade:
    """A zero-shot cascade over the employer-support codebook."""
    return Cascade(minilm, load_codebook("employer-support")).fit([], [])


class DictCache:
    """An in-memory answer cache with the store's get/put."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value


def scripted_chat(pick: Any) -> Any:
    """A stand-in chat: `pick(candidates) -> {"code", ...}`, recording every call; answers `codes` where the schema asks."""

    def chat(messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        multi = "codes" in schema["properties"]
        spec = schema["properties"]["codes"]["items"] if multi else schema["properties"]["code"]
        candidates = [c for c in spec["enum"] if c != NONE]
        chat.calls.append((messages, candidates))
        answer = dict(pick(candidates))
        if multi:
            code = answer.pop("code")
            answer["codes"] = code if isinstance(code, list) else [code]
        return answer

    chat.calls = []
    return chat


def review_texts(base: Cascade) -> list[str]:
    """The texts the cascade sends to review (the adjudicator's only business)."""
    return [t for t, p in zip(TEXTS, base.predict(TEXTS), strict=True) if p.needs_review]


def test_only_review_items_are_asked_and_the_answer_comes_from_the_shortlist(base: Cascade) -> None:
    chat = scripted_chat(lambda candidates: {"code": candidates[1], "confidence": 0.95, "reason": "fits the second"})
    adjudicator = Adjudicator(base, chat, model="stand-in", top_k=4)
    before = base.predict(TEXTS)
    after = adjudicator.predict(TEXTS)
    asked = [p for p in before if p.needs_review]
    assert asked and len(chat.calls) == len(asked)
    for old, new in zip(before, after, strict=True):
        if not old.needs_review:
            assert new == old
            continue
        messages, candidates = chat.calls[[p for p in before if p.needs_review].index(old)]
        assert len(candidates) == 4 and set(old.scores) >= set(candidates[:1])
        assert new.evidence[0].kind == "llm" and new.evidence[0].text == "fits the second"
        assert new.evidence[0].code == candidates[1]
        # The model's pick replaces the best guess only where its support beats retrieval's; never a code off the list.
        assert (new.method, new.codes) == ("llm", (candidates[1],)) or new.codes == old.codes
        assert "Candidate codes" in messages[-1]["content"] and base.codebook.name in messages[0]["content"]


def test_an_answer_outside_the_shortlist_is_retried_once_then_left_in_review(base: Cascade) -> None:
    chat = scripted_chat(lambda candidates: {"code": "invented_code", "confidence": 0.99, "reason": "made up"})
    adjudicator = Adjudicator(base, chat, model="stand-in")
    texts = review_texts(base)[:1]
    out = adjudicator.predict(texts)[0]
    assert len(chat.calls) == 2 and adjudicator.stats.failed == 1 and adjudicator.stats.calls == 2
    assert out.needs_review and out.method != "llm" and "no usable answer" in (out.reason or "")


def test_none_keeps_the_item_in_review_with_the_reason(base: Cascade) -> None:
    chat = scripted_chat(lambda candidates: {"code": NONE, "confidence": 0.7, "reason": "it is about pay, not study"})
    out = Adjudicator(base, chat, model="stand-in").predict(review_texts(base)[:1])[0]
    assert out.needs_review and "none of the candidates" in out.reason and "about pay" in out.reason
    assert out.evidence[0].code == NONE


@pytest.mark.parametrize("kind", ["unreachable", "timeout", "http"])
def test_a_failing_server_never_stops_the_batch(base: Cascade, kind: str) -> None:
    def broken(messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        raise LLMError(kind, "the server is down")

    adjudicator = Adjudicator(base, broken, model="stand-in")
    out = adjudicator.predict(TEXTS)
    assert len(out) == len(TEXTS)
    review = [p for p in out if p.needs_review]
    assert all(kind in (p.reason or "") or p.reason for p in review)
    assert adjudicator.stats.failed == adjudicator.stats.asked == len(review_texts(base))


def test_the_cache_makes_a_rerun_call_nothing(base: Cascade) -> None:
    cache = DictCache()
    chat = scripted_chat(lambda candidates: {"code": candidates[0], "confidence": 0.8, "reason": "first"})
    first = Adjudicator(base, chat, model="stand-in", cache=cache).predict(TEXTS)
    calls = len(chat.calls)
    again = Adjudicator(base, chat, model="stand-in", cache=cache)
    assert again.predict(TEXTS) == first and len(chat.calls) == calls and again.stats.cached == again.stats.asked > 0
    other_model = Adjudicator(base, chat, model="another model", cache=cache)
    other_model.predict(TEXTS)
    assert len(chat.calls) > calls  # the cache key includes the model


def test_the_budget_caps_calls_and_the_rest_stay_in_review(base: Cascade) -> None:
    chat = scripted_chat(lambda candidates: {"code": candidates[0], "confidence": 0.8, "reason": "first"})
    texts = [f"{t} ({n})" for n in range(3) for t in review_texts(base)]
    adjudicator = Adjudicator(base, chat, model="stand-in", budget=1, max_concurrency=1)
    out = adjudicator.predict(texts)
    assert len(chat.calls) == 1 and adjudicator.stats.over_budget == len(texts) - 1
    assert sum(p.method == "llm" for p in out) == 1
    assert all("budget" in (p.reason or "") for p in out if p.method != "llm")


def test_confidence_combines_the_model_with_retrieval(base: Cascade) -> None:
    text = review_texts(base)[0]
    prior = base.predict([text])[0]
    agree = Adjudicator(base, scripted_chat(lambda c: {"code": list(prior.codes), "confidence": 0.6, "reason": "r"}), model="a")
    got = agree.predict([text])[0]
    assert got.confidence == pytest.approx(1 - (1 - prior.confidence) * 0.4, abs=1e-5)
    other = next(c for c in prior.scores if c not in prior.codes)
    weak = Adjudicator(base, scripted_chat(lambda c: {"code": other, "confidence": 0.1, "reason": "r"}), model="b")
    kept = weak.predict([text])[0]
    assert 0.1 * (1 - prior.confidence) < prior.confidence
    assert kept.codes == prior.codes and kept.needs_review  # a weak overruling does not replace the best guess
    assert kept.evidence[0].kind == "llm" and kept.evidence[0].code == other
    strong = Adjudicator(base, scripted_chat(lambda c: {"code": other, "confidence": 1.0, "reason": "r"}), model="c")
    got = strong.predict([text])[0]
    combined = 1.0 * (1 - prior.confidence)
    if combined >= prior.confidence:
        assert got.codes == (other,) and got.method == "llm" and got.confidence == pytest.approx(combined, abs=1e-5)
    else:
        assert got.codes == prior.codes
    assert got.needs_review  # overruling retrieval is never accepted at the 0.9 default unless retrieval was near 0


def test_a_multi_label_answer_with_one_code_is_decided(base: Cascade) -> None:
    def one_code(messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        candidates = [c for c in schema["properties"]["codes"]["items"]["enum"] if c != NONE]
        return {"code": candidates[0], "confidence": 0.95, "reason": "only one"}  # `code`, not `codes`: still accepted

    adjudicator = Adjudicator(base, one_code, model="stand-in")
    out = adjudicator.predict(review_texts(base)[:1])[0]
    assert adjudicator.stats.decided == 1 and out.evidence[0].kind == "llm" and out.evidence[0].text == "only one"


def test_an_item_without_scores_or_codes_is_shortlisted_from_the_codebook() -> None:
    book = load_codebook("employer-support")

    class Blank:
        codebook = book

        def predict(self, texts: list[str]) -> list[Prediction]:
            return [Prediction((), 0.0, "none", True) for _ in texts]

    chat = scripted_chat(lambda candidates: {"code": NONE, "confidence": 0.5, "reason": "no idea"})
    Adjudicator(Blank(), chat, model="stand-in", top_k=3).predict(["something with words"])
    assert chat.calls[0][1] == book.codes()[:3]


def test_the_schema_lists_exactly_the_candidates_and_none() -> None:
    schema = answer_schema(["a", "b"])
    assert schema["properties"]["code"]["enum"] == ["a", "b", NONE]
    assert schema["required"] == ["code", "confidence", "reason"] and schema["additionalProperties"] is False
    multi = answer_schema(["a", "b"], multi_label=True)
    assert multi["properties"]["codes"]["items"]["enum"] == ["a", "b", NONE]
