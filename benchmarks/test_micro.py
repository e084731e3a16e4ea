"""pytest-benchmark suites for the hot paths (`make bench` saves their JSON): encode, normalise, search, coding a batch."""

from __future__ import annotations

import numpy as np
import pytest

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.classifiers.normalise import normalise_key
from autocode.embeddings import VectorIndex, get_encoder


@pytest.fixture(scope="module")
def names() -> list[str]:
    """2,000 real employer names from the shipped gazetteer."""
    return load_gazetteer()["name"].drop_duplicates().head(2000).tolist()


def test_encode_256_new_texts(benchmark, names: list[str]) -> None:
    encoder = get_encoder("minilm")
    batch = names[:256]

    def encode() -> np.ndarray:
        encoder.clear_cache()  # new texts each round: the model's cost, not the cache's
        return encoder.encode(batch)

    assert benchmark(encode).shape == (256, encoder.dim)


def test_normalise_2000_keys(benchmark, names: list[str]) -> None:
    assert len(benchmark(lambda: [normalise_key(n) for n in names])) == 2000


def test_flat_search_100_queries_in_2000(benchmark, names: list[str]) -> None:
    encoder = get_encoder("minilm")
    vectors = encoder.encode(names)
    index = VectorIndex(encoder.name, encoder.dim)
    index.add(np.arange(len(names)), vectors)
    _, ids = benchmark(lambda: index.search(vectors[:100], 10))
    assert (ids[:, 0] == np.arange(100)).all()


def test_zero_shot_predict_256_cached(benchmark, names: list[str]) -> None:
    cascade = Cascade(get_encoder("minilm"), load_codebook("isic4")).fit([], [])
    cascade.predict(names[:256])  # vectors cached: this measures the decision, not the model
    assert len(benchmark(lambda: cascade.predict(names[:256]))) == 256
