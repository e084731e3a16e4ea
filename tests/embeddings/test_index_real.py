"""The index over real encoder vectors: informal names find their formal records, before and after a reload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autocode.embeddings import Encoder, IndexMismatchError, VectorIndex

RECORDS = {
    1: "DBS Group Holdings Ltd",
    2: "Tata Consultancy Services Limited",
    3: "Singapore Airlines Limited",
    4: "National University of Singapore",
    5: "HSBC Holdings plc",
    6: "Infosys Limited",
}


def test_informal_names_find_their_records_and_survive_reload(minilm: Encoder, tmp_path: Path) -> None:
    index = VectorIndex(minilm.name, minilm.dim)
    index.add(np.array(list(RECORDS)), minilm.encode(list(RECORDS.values())))
    queries = ["tata consultancy", "singapore airlines", "hsbc", "infosys ltd"]
    scores, ids = index.search(minilm.encode(queries), k=3)
    assert list(ids[:, 0]) == [2, 3, 5, 6]
    index.save(tmp_path / "idx")
    again = VectorIndex.load(tmp_path / "idx", expect_model=minilm.name, expect_dim=minilm.dim)
    scores2, ids2 = again.search(minilm.encode(queries), k=3)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_allclose(scores, scores2, rtol=1e-6)


def test_index_built_by_one_model_is_refused_by_the_other(minilm: Encoder, use_multilingual: Encoder, tmp_path: Path) -> None:
    index = VectorIndex(minilm.name, minilm.dim)
    index.add(np.array([1]), minilm.encode(["DBS Group Holdings Ltd"]))
    index.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="universal-sentence-encoder"):
        VectorIndex.load(tmp_path / "idx", expect_model=use_multilingual.name, expect_dim=use_multilingual.dim)
