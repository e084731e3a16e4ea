"""The encoders, with the real packaged models."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from autocode.embeddings import Encoder, get_encoder

PAIRS = [
    ("DBS Bank Singapore", "DBS Group Holdings", "Tata Consultancy Services"),
    ("the company paid all my course fees", "my employer covered the full tuition", "I like to swim at the beach"),
]


@pytest.mark.parametrize("fixture, dim", [("minilm", 384), ("use_multilingual", 512)])
def test_unit_vectors_of_stated_dimension(request: pytest.FixtureRequest, fixture: str, dim: int) -> None:
    enc: Encoder = request.getfixturevalue(fixture)
    vecs = enc.encode(["Singapore Airlines", "universiti malaya", "", "x" * 3000])
    assert enc.dim == dim
    assert vecs.shape == (4, dim) and vecs.dtype == np.float32
    norms = np.linalg.norm(vecs, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3]], 1.0, atol=1e-4)
    assert enc.name and enc.max_tokens > 0


@pytest.mark.parametrize("fixture", ["minilm", "use_multilingual"])
def test_similar_texts_score_higher_than_unrelated(request: pytest.FixtureRequest, fixture: str) -> None:
    enc: Encoder = request.getfixturevalue(fixture)
    for anchor, similar, unrelated in PAIRS:
        a, s, u = enc.encode([anchor, similar, unrelated])
        assert float(a @ s) > float(a @ u) + 0.05, (anchor, float(a @ s), float(a @ u))


def test_multilingual_encoder_matches_across_languages(use_multilingual: Encoder) -> None:
    en, de, other = use_multilingual.encode(
        ["my employer paid the course fees", "mein Arbeitgeber hat die Kursgebühren bezahlt", "the weather is cold today"])
    assert float(en @ de) > float(en @ other)


def test_cache_never_encodes_a_text_twice(minilm: Encoder) -> None:
    texts = [f"cache probe {i}" for i in range(10)]
    before = minilm.texts_encoded
    first = minilm.encode(texts + texts[:3])  # duplicates inside one call are encoded once too
    assert minilm.texts_encoded - before == 10
    second = minilm.encode(list(reversed(texts)))
    assert minilm.texts_encoded - before == 10
    np.testing.assert_array_equal(second[::-1], first[:10])


def test_cache_is_bounded_oldest_first(minilm: Encoder) -> None:
    small = Encoder(minilm.backend, key="minilm-small-cache", cache_limit=3)
    small.encode(["text 1", "text 2", "text 3", "text 4", "text 5"])  # equal lengths keep their order
    assert small.cache_size() == 3
    small.encode(["text 5"])
    assert small.texts_encoded == 5  # the newest texts stayed cached
    small.encode(["text 1"])
    assert small.texts_encoded == 6


def test_order_is_kept_while_batches_are_sorted_by_length(minilm: Encoder) -> None:
    texts = ["a very long sentence about employers and training courses " * 3, "b", "medium length text here"]
    together = minilm.encode(texts)
    fresh = Encoder(minilm.backend, key="minilm-fresh", batch_size=1)
    one_by_one = np.vstack([fresh.encode([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_same_process_gets_one_model() -> None:
    assert get_encoder("minilm") is get_encoder("minilm")


def test_unknown_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown encoder 'bert'.*minilm"):
        get_encoder("bert")


def test_single_string_is_refused(minilm: Encoder) -> None:
    with pytest.raises(TypeError):
        minilm.encode("one text")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["minilm", "minilm-int8", "minilm-torch", "use-multilingual"])
def test_loading_a_model_opens_no_socket(name: str) -> None:
    # An audit hook sees every socket the interpreter creates or connects, from any library; native code
    # (onnxruntime's telemetry, say) is caught by the socket descriptors left open in the process.
    code = textwrap.dedent(
        f"""
        import sys
        events = []
        def hook(event, args):
            if event.startswith("socket."):
                events.append(event)
        sys.addaudithook(hook)
        from autocode.embeddings import get_encoder
        vec = get_encoder({name!r}).encode(["offline check"])
        assert vec.shape[0] == 1
        import os
        fds = [os.readlink(f"/proc/self/fd/{{fd}}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{{fd}}")]
        events += [fd for fd in fds if fd.startswith("socket:")]
        print("SOCKET_EVENTS", sorted(set(events)))
        """
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HF_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "SOCKET_EVENTS []" in out.stdout, out.stdout
