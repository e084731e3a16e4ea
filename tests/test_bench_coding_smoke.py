"""Smoke test of the coding benchmark at tiny sizes: rows come back, measured; no speed targets here."""

from __future__ import annotations

import pytest

from benchmarks.bench_coding import ENCODERS, run


@pytest.mark.slow
def test_bench_coding_quick_rows() -> None:
    """run(quick=True) returns one row per encoder, the two vector-agreement rows and the survey row, all measured."""
    rows = run(quick=True)
    agreement = [r for r in rows if r.name.startswith("vectors, ")]
    timed = [r for r in rows if r not in agreement]
    assert len(timed) == len(ENCODERS) + 1 and len(agreement) == 2
    for row in timed:
        assert row.value > 0
        assert row.reference is not None and row.reference > 0
        assert row.ratio is not None and row.ratio > 0
        assert row.met in (True, False)
    for row in agreement:  # cosines against sentence-transformers: the fp32 export is the same model
        assert 0.95 < row.value <= 1.0001 and row.met in (True, False)
    assert agreement[0].value > 0.99999
