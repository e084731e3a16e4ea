"""Smoke test of the search-at-scale benchmark: the quick run returns rows with positive measures."""

from __future__ import annotations

import pytest

from benchmarks.table import Row


@pytest.mark.slow
def test_quick_run_returns_positive_rows() -> None:
    """run(quick=True) measures latency, recall, build time and memory, all positive (no speed targets)."""
    from benchmarks.bench_search import run

    rows = run(quick=True)
    assert rows and all(isinstance(r, Row) for r in rows)
    by_unit = {r.unit: r for r in rows}
    for unit in ("ms", "", "s", "MiB"):
        assert unit in by_unit, f"no row in {unit!r}"
        assert by_unit[unit].value > 0
    assert 0 < by_unit[""].value <= 1  # recall@10
    assert by_unit["ms"].reference is not None and by_unit["ms"].reference > 0  # exact flat p50


def test_helpers_on_tiny_data() -> None:
    """exact_topk agrees with a brute-force sort; recall of the truth against itself is 1; synthetic rows are unit."""
    import numpy as np

    from benchmarks.bench_search import (
        exact_topk,
        query_variants,
        recall_at_k,
        synthesise,
    )

    rng = np.random.default_rng(0)
    real = rng.normal(size=(50, 384)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    base = np.empty((300, 384), dtype=np.float32)
    synthesise(real, base)
    assert np.allclose(np.linalg.norm(base, axis=1), 1, atol=1e-5)
    q = real[:5]
    truth = exact_topk(base, q)
    brute = np.argsort(-(q @ base.T), axis=1)[:, :10]
    assert recall_at_k(truth, brute) == 1.0
    assert len(query_variants(["Acme Corporation", "Globex Inc", "Initech"], 2)) == 2
