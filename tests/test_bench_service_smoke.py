"""Smoke test of the service benchmark: the quick run gives every row with a positive value (targets not asserted)."""

from __future__ import annotations

import pytest

from benchmarks.bench_service import run, survey_texts
from benchmarks.table import Row


def test_survey_texts_are_distinct_and_seeded() -> None:
    """The generated answers are distinct and the same for the same seed."""
    texts = survey_texts(5_000, seed=1)
    assert len(set(texts)) == 5_000
    assert texts == survey_texts(5_000, seed=1)


@pytest.mark.slow
def test_quick_run_gives_positive_rows() -> None:
    """`run(quick=True)` returns the API, cold-start and memory rows, each with a positive value."""
    rows = run(quick=True)
    assert all(isinstance(r, Row) for r in rows)
    names = " ".join(r.name for r in rows)
    for part in ("p50", "p99", "concurrent clients", "cold start", "peak RSS"):
        assert part in names
    for r in rows:
        assert r.value > 0, r
        if r.reference is not None:
            assert r.reference > 0 and r.ratio is not None and r.ratio > 0, r
