"""VectorIndex's HNSW option at a few thousand records: recall against exact search, tombstones and
compaction. Pure index logic with synthetic random unit vectors and real FAISS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import autocode.embeddings.index.search as search_mod
from autocode.embeddings.index import VectorIndex

N, DIM, K = 5_000, 64, 10


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, vectors, queries): random unit vectors; queries are not in the store."""
    rng = np.random.default_rng(42)
    x = rng.standard_normal((N + 200, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = rng.choice(10**12, size=N, replace=False).astype(np.int64)
    return ids, x[:N], x[N:]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true top-k found in the returned top-k."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def build(ids: np.ndarray, vecs: np.ndarray, kind: str) -> VectorIndex:
    index = VectorIndex("test-model", DIM, kind)  # type: ignore[arg-type]
    index.add(ids, vecs)
    return index


def test_hnsw_recall_against_flat(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ids, vecs, queries = data
    _, truth = build(ids, vecs, "flat").search(queries, K)
    hnsw = build(ids, vecs, "hnsw")
    scores, found = hnsw.search(queries, K)
    assert recall(found, truth) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_hnsw_remove_and_upsert_at_scale(data: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    ids, vecs, queries = data
    hnsw = build(ids, vecs, "hnsw")
    flat = build(ids, vecs, "flat")
    rng = np.random.default_rng(0)
    removed = rng.choice(ids, size=int(0.2 * N), replace=False)  # below the compaction threshold
    assert hnsw.remove(removed) == removed.size and flat.remove(removed) == removed.size
    assert hnsw.tombstones == removed.size
    replaced = rng.choice(np.setdiff1d(ids, removed), size=200, replace=False)
    new_vecs = queries[:200] + 0.0  # each replaced id now sits exactly on a query
    hnsw.upsert(replaced, new_vecs)
    flat.upsert(replaced, new_vecs)
    assert len(hnsw) == len(flat) == N - removed.size

    scores, found = hnsw.search(queries, K)
    _, truth = flat.search(queries, K)
    assert not np.isin(found, removed).any()
    assert recall(found, truth) >= 0.95
    # Each replaced id is its query's best hit at score 1, and is never returned again at its stale vector.
    np.testing.assert_array_equal(found[:, 0], replaced)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    row_of = {int(i): r for r, i in enumerate(ids)}
    old_vecs = vecs[[row_of[int(i)] for i in replaced]]
    stale_scores, near_old = hnsw.search(old_vecs, K)
    # Where a replaced id still shows up near its old vector, it is scored by its new vector, not at 1.
    hit_self = near_old == replaced[:, None]
    new_scores = np.broadcast_to(np.sum(old_vecs * new_vecs, axis=1)[:, None], hit_self.shape)
    np.testing.assert_allclose(stale_scores[hit_self], new_scores[hit_self], atol=1e-5)
    assert (stale_scores[:, 0] < 0.99).all()

    # Tombstones survive a save/load; passing the threshold compacts the graph, results unchanged in kind.
    hnsw.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.tombstones == hnsw.tombstones
    more = rng.choice(np.setdiff1d(ids, np.concatenate([removed, replaced])), size=int(0.1 * N), replace=False)
    loaded.remove(more)
    flat.remove(more)
    assert loaded.tombstones == 0, "past COMPACT_FRACTION the graph is rebuilt without tombstones"
    np.testing.assert_array_equal(loaded.ids(), flat.ids())
    found2 = loaded.search(queries, K)[1]
    assert not np.isin(found2, np.concatenate([removed, more])).any()
    assert recall(found2, flat.search(queries, K)[1]) >= 0.95
    np.testing.assert_allclose(loaded.reconstruct(replaced), new_vecs, atol=1e-6)


def test_hnsw_filtered_search_over_a_large_share(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, vecs, queries = data
    monkeypatch.setattr(search_mod, "EXACT_SUBSET_ROWS", 0)  # keep the graph walk with an IDSelector
    hnsw = build(ids, vecs, "hnsw")
    flat = build(ids, vecs, "flat")
    allowed = ids[np.arange(N) % 3 != 0]  # two thirds: above EXACT_SUBSET_FRACTION
    found = hnsw.search_filtered(queries, K, allowed)[1]
    truth = flat.search_filtered(queries, K, allowed)[1]
    assert np.isin(found, allowed).all()
    assert recall(found, truth) >= 0.95
