"""Chunking long texts by the real models' tokenizers."""

from __future__ import annotations

import itertools

import pytest

from autocode.embeddings import Encoder
from autocode.embeddings.chunking import split_text

REPORT = " ".join(f"Sentence {i} of the annual training report describes the course support we received." for i in range(80))


@pytest.mark.parametrize("fixture", ["minilm", "use_multilingual"])
def test_long_text_is_covered_by_overlapping_windows(request: pytest.FixtureRequest, fixture: str) -> None:
    enc: Encoder = request.getfixturevalue(fixture)
    chunks = split_text(enc, REPORT, max_tokens=100, overlap=20)
    assert len(chunks) > 5
    assert chunks[0].start == 0 and chunks[-1].end == len(REPORT.rstrip())
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # windows overlap
        assert b.start > a.start
    assert all(n <= 100 for n in enc.count_tokens([c.text for c in chunks])) or fixture == "use_multilingual"
    assert all(REPORT[c.start : c.end] == c.text for c in chunks)


def test_short_text_is_one_chunk(minilm: Encoder) -> None:
    (only,) = split_text(minilm, "DBS Bank")
    assert only.text == "DBS Bank" and only.index == 0


def test_overlap_must_fit_the_window(minilm: Encoder) -> None:
    with pytest.raises(ValueError, match="overlap"):
        split_text(minilm, REPORT, max_tokens=10, overlap=10)
