"""Shared fixtures: each real model is loaded once per test session (one model load per process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autocode.embeddings import Encoder, get_encoder


@pytest.fixture(scope="session")
def minilm() -> Encoder:
    """The real all-MiniLM-L6-v2 encoder."""
    return get_encoder("minilm")


@pytest.fixture(scope="session")
def use_multilingual() -> Encoder:
    """The real multilingual USE v3 encoder."""
    return get_encoder("use-multilingual")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every stateful command's files out of the user's real data directory."""
    monkeypatch.setenv("AUTOCODE_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray of two CPUs for every Ray test of the session (starting one costs seconds), stopped after."""
    ray = pytest.importorskip("ray", reason="the [ray] extra is not installed (pip install -e '.[ray]')")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
