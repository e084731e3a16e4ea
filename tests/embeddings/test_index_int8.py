"""VectorIndex storage="int8" (8-bit scalar quantisation): training on the first add, recall, save/load, rebuild.
Pure index logic with synthetic random unit vectors and real FAISS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autocode.embeddings.index import INT8_MIN_TRAIN, VectorIndex

N, DIM, K = 3_000, 64, 10


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, vectors, queries): random unit vectors; queries are not in the store."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N + 100, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.arange(N, dtype=np.int64) * 3 + 1, x[:N], x[N:]


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_int8_search_is_close_to_exact_and_survives_save_load(kind: str, data: tuple[np.ndarray, np.ndarray, np.ndarray],
                                                              tmp_path: Path) -> None:
    """int8 finds nearly the exact top-10, its scores are within 0.02 of float32, and a saved copy answers the same."""
    ids, vecs, queries = data
    exact = VectorIndex("m", DIM)
    exact.add(ids, vecs)
    truth_scores, truth = exact.search(queries, K)
    index = VectorIndex("m", DIM, kind, storage="int8", ef_search=128)  # type: ignore[arg-type]
    index.add(ids, vecs)
    scores, found = index.search(queries, K)
    assert _recall(found, truth) >= 0.9
    assert np.abs(scores[:, 0] - truth_scores[:, 0]).max() < 0.02
    index.save(tmp_path / "ix")
    loaded = VectorIndex.load(tmp_path / "ix")
    assert loaded.storage == "int8"
    np.testing.assert_array_equal(loaded.search(queries, K)[1], found)
    more = np.random.default_rng(1).standard_normal((5, DIM)).astype(np.float32)
    loaded.add(np.arange(5, dtype=np.int64) * 3 + 2, more / np.linalg.norm(more, axis=1, keepdims=True))
    assert len(loaded) == N + 5  # later adds reuse the learnt ranges, whatever their size


def test_int8_first_add_must_be_large_enough(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A first add too small to learn ranges from is refused with a message that says why and what to do."""
    ids, vecs, _ = data
    index = VectorIndex("m", DIM, "hnsw", storage="int8")
    with pytest.raises(ValueError, match=f"at least {INT8_MIN_TRAIN:,} vectors.*float16"):
        index.add(ids[:10], vecs[:10])
    assert len(index) == 0
    index.add(ids, vecs)
    assert len(index) == N


def test_int8_hnsw_rebuild_relearns_ranges(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Removing past the compaction share rebuilds the graph (re-trained); removed ids never come back."""
    ids, vecs, queries = data
    index = VectorIndex("m", DIM, "hnsw", storage="int8", ef_search=128)
    index.add(ids, vecs)
    gone = ids[: N // 2]
    index.remove(gone)
    assert index.tombstones == 0  # compacted: more than a quarter removed
    _, found = index.search(queries, K)
    assert not set(found.ravel().tolist()) & set(gone.tolist())
    assert (found >= 0).all()
    hit = index.search(vecs[N - 1 : N], 1)[1][0, 0]
    assert hit == ids[N - 1]
