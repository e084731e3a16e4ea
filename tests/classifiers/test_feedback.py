"""FeedbackMemory with the real MiniLM and a real zero-shot Cascade: corrections decide, near wordings follow, others don't."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Self

import pytest

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import Codebook, load_codebook
from autocode.classifiers.feedback import DEFAULT_HINT, DEFAULT_NEAR, FeedbackMemory
from autocode.classifiers.prediction import Evidence, Prediction
from autocode.embeddings import Encoder

CORRECTED = "my boss let me leave early on exam days"
NEAR_WORDING = "my boss let me leave early on the exam days"  # cosine ~0.99 to CORRECTED
UNRELATED = ["I bought my own laptop", "the company paid for my parking", "nothing at all, I paid for everything myself"]


class CountingBase:
    """A classifier that passes every call to a real one and records the predict batches it was given."""

    def __init__(self, base: Cascade) -> None:
        self.base = base
        self.multi_label = base.multi_label
        self.batches: list[list[str]] = []
        self.fits = 0

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Self:
        self.fits += 1
        self.base.fit(texts, labels)
        return self

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.batches.append(list(texts))
        return self.base.predict(texts)


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return load_codebook("employer-support")


@pytest.fixture(scope="module")
def cascade(minilm: Encoder, codebook: Codebook) -> Cascade:
    return Cascade(minilm, codebook).fit([], [])


@pytest.fixture
def base(cascade: Cascade) -> CountingBase:
    return CountingBase(cascade)


@pytest.fixture
def memory(base: CountingBase, minilm: Encoder, codebook: Codebook) -> FeedbackMemory:
    return FeedbackMemory(base, minilm, codebook)


def _cosine(encoder: Encoder, a: str, b: str) -> float:
    x = encoder.encode([a, b])
    return float(x[0] @ x[1])


def _other_code(prediction: Prediction, codebook: Codebook) -> str:
    """A code the base did not choose, so a correction to it visibly changes the answer."""
    return next(c for c in codebook.codes() if c not in prediction.codes)


def test_defaults_are_the_measured_ones() -> None:
    assert DEFAULT_NEAR == 0.95 and DEFAULT_HINT == 0.80


def test_a_correction_decides_the_next_answer_for_that_text(memory: FeedbackMemory, cascade: Cascade, codebook: Codebook) -> None:
    before = cascade.predict([CORRECTED])[0]
    code = _other_code(before, codebook)
    memory.add(CORRECTED, [code], note="checked with the learner")
    variants = [CORRECTED, "  My BOSS let me   leave early\ton EXAM days ", CORRECTED.upper()]
    for p in memory.predict(variants):
        assert p.codes == (code,) and p.codes != before.codes
        assert p.confidence == 1.0 and p.method == "feedback" and p.needs_review is False
        assert p.labels == (codebook.get(code).name,)
        assert p.evidence[0] == Evidence("feedback", CORRECTED, code, 1.0)
        assert Evidence("note", "feedback note: checked with the learner") in p.evidence
    assert len(memory) == 1


def test_a_near_duplicate_wording_is_decided_by_the_correction(memory: FeedbackMemory, minilm: Encoder, codebook: Codebook) -> None:
    similarity = _cosine(minilm, CORRECTED, NEAR_WORDING)
    assert similarity >= DEFAULT_NEAR  # the premise: a wording this close should follow the correction
    memory.add(CORRECTED, ["other_support"])
    p = memory.predict([NEAR_WORDING])[0]
    assert p.codes == ("other_support",) and p.method == "feedback-neighbour" and p.needs_review is False
    assert p.confidence == pytest.approx(similarity, abs=1e-4)
    assert p.evidence == (Evidence("feedback", CORRECTED, "other_support", round(similarity, 4)),)
    assert p.labels == (codebook.get("other_support").name,)


def test_unrelated_texts_keep_the_base_decision(memory: FeedbackMemory, cascade: Cascade) -> None:
    memory.add(CORRECTED, ["other_support"])
    assert memory.predict(UNRELATED) == cascade.predict(UNRELATED)


def test_a_fairly_similar_text_only_gets_the_correction_as_evidence(memory: FeedbackMemory, cascade: Cascade, minilm: Encoder) -> None:
    similar = "my manager let me go home early on exam days"
    similarity = _cosine(minilm, CORRECTED, similar)
    assert DEFAULT_HINT <= similarity < DEFAULT_NEAR
    memory.add(CORRECTED, ["other_support"])
    before = cascade.predict([similar])[0]
    after = memory.predict([similar])[0]
    assert (after.codes, after.confidence, after.method, after.needs_review) == (
        before.codes, before.confidence, before.method, before.needs_review
    )
    assert after.evidence == (*before.evidence, Evidence("feedback", CORRECTED, "other_support", round(similarity, 4)))


def test_multi_label_correction(memory: FeedbackMemory, codebook: Codebook) -> None:
    memory.add("half the fees and two days paid exam leave", ["fees_part", "study_time", "fees_part"])
    p = memory.predict(["Half the fees and two days paid exam leave"])[0]
    assert p.codes == ("fees_part", "study_time")
    assert p.labels == (codebook.get("fees_part").name, codebook.get("study_time").name)
    assert p.evidence == (Evidence("feedback", "half the fees and two days paid exam leave", "fees_part|study_time", 1.0),)


def test_unknown_code_is_refused_by_name(memory: FeedbackMemory) -> None:
    with pytest.raises(ValueError, match=r"'free_lunch'.*'employer-support'"):
        memory.add(CORRECTED, ["study_time", "free_lunch"])
    assert len(memory) == 0
    # One bad item refuses the whole batch: nothing half-applied.
    with pytest.raises(ValueError, match="free_lunch"):
        memory.add_many([(CORRECTED, ["study_time"], ""), ("another answer", ["free_lunch"], "")])
    assert len(memory) == 0


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_text_is_refused(memory: FeedbackMemory, text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        memory.add(text, ["study_time"])


def test_no_codes_is_refused(memory: FeedbackMemory) -> None:
    with pytest.raises(ValueError, match="no code"):
        memory.add(CORRECTED, [])


def test_a_later_correction_replaces_the_earlier(memory: FeedbackMemory) -> None:
    memory.add(CORRECTED, ["study_time"], note="first")
    memory.add(CORRECTED.upper(), ["unpaid_leave"], note="second")
    assert len(memory) == 1
    assert memory.corrections() == [{"text": CORRECTED.upper(), "key": CORRECTED, "codes": ["unpaid_leave"], "note": "second"}]
    exact, near = memory.predict([CORRECTED, NEAR_WORDING])
    assert exact.codes == ("unpaid_leave",) and exact.method == "feedback"
    # The replaced correction's vector is gone too: the neighbour follows the latest one.
    assert near.codes == ("unpaid_leave",) and near.method == "feedback-neighbour"


def test_add_many_encodes_once_and_the_last_of_a_text_wins(memory: FeedbackMemory, minilm: Encoder) -> None:
    tag = uuid.uuid4().hex  # texts the encoder's cache has never seen
    items = [
        (f"answer one {tag}", ["study_time"], ""),
        (f"answer two {tag}", ["fees_full"], "n"),
        (f"ANSWER ONE {tag}", ["required"], "again"),
    ]
    calls = minilm.model_calls
    memory.add_many(items)
    assert minilm.model_calls == calls + 1
    assert len(memory) == 2
    assert [c["codes"] for c in memory.corrections()] == [["required"], ["fees_full"]]
    assert memory.predict([f"answer one {tag}"])[0].codes == ("required",)


def test_predict_calls_the_base_once_per_batch_with_only_the_texts_it_must_decide(memory: FeedbackMemory, base: CountingBase) -> None:
    memory.add(CORRECTED, ["other_support"])
    batch = [UNRELATED[0], CORRECTED, NEAR_WORDING, UNRELATED[1], CORRECTED.title(), UNRELATED[2]]
    out = memory.predict(batch)
    assert base.batches == [[UNRELATED[0], UNRELATED[1], UNRELATED[2]]]
    assert [p.method for p in out][1:3] == ["feedback", "feedback-neighbour"]
    base.batches.clear()
    memory.predict([CORRECTED, NEAR_WORDING])
    assert base.batches == []  # nothing left for the base to decide


def test_predict_with_no_corrections_is_the_base(memory: FeedbackMemory, base: CountingBase, cascade: Cascade) -> None:
    assert memory.predict([]) == []
    assert memory.predict(UNRELATED) == cascade.predict(UNRELATED)
    assert base.batches == [UNRELATED]


def test_texts_without_words_go_to_the_base(memory: FeedbackMemory, base: CountingBase) -> None:
    memory.add(CORRECTED, ["other_support"])
    out = memory.predict(["", "   "])
    assert base.batches == [["", "   "]]
    assert all(p.method != "feedback-neighbour" for p in out)


def test_fit_refits_the_base_and_keeps_the_corrections(memory: FeedbackMemory, base: CountingBase) -> None:
    memory.add(CORRECTED, ["other_support"])
    assert memory.fit([], []) is memory
    assert base.fits == 1 and len(memory) == 1
    assert memory.predict([CORRECTED])[0].method == "feedback"


def test_thresholds_must_be_ordered(base: CountingBase, minilm: Encoder, codebook: Codebook) -> None:
    with pytest.raises(ValueError, match="hint"):
        FeedbackMemory(base, minilm, codebook, near=0.8, hint=0.9)
