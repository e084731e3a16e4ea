"""Smoke test of the coding benchmark at tiny sizes: rows come back, measured; no speed targets here."""

from __future__ import annotations

import pytest

from benchmarks.bench_coding import run


@pytest.mark.slow
def test_bench_coding_quick_rows() -> None:
    """run(quick=True) returns one row per encoder plus the survey row, all with positive numbers."""
    rows = run(quick=True)
    assert len(rows) == 3
    for row in rows:
        assert row.value > 0
        assert row.reference is not None and row.reference > 0
        assert row.ratio is not None and row.ratio > 0
        assert row.met in (True, False)
