"""The Encoder: one interface over the packaged models, with an exact-text cache and length-sorted batches."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from autocode.embeddings.backends import Backend, MiniLMBackend, USEMultilingualBackend
from autocode.embeddings.onnx_backend import OnnxMiniLMBackend

# Short names a user types -> backend factory. New backends register here (txtai-style factory).
# "minilm" and "minilm-torch" give the same vectors (cosine 1 - 1e-6) under one model name, so an index built with
# either serves both; "minilm-int8" is another model name, refused by their indexes and models.
ENCODERS: dict[str, Callable[[], Backend]] = {
    "minilm": OnnxMiniLMBackend,
    "minilm-int8": lambda: OnnxMiniLMBackend(quantised=True),
    "minilm-torch": MiniLMBackend,
    "use-multilingual": USEMultilingualBackend,
}
DEFAULT_ENCODER = "minilm"


class Encoder:
    """Encodes texts to L2-normalised float32 vectors; a text is encoded at most once per process."""

    def __init__(self, backend: Backend, key: str, batch_size: int | None = None, cache_limit: int = 200_000) -> None:
        self.backend = backend
        self.key = key
        # Texts per backend call: backends that batch by token budget themselves (USE, ONNX) take thousands at once,
        # so their micro-batches group lengths across the whole call instead of within slices of 256.
        self.batch_size = batch_size or int(getattr(backend, "texts_per_call", 256))
        # Bounded so a run over millions of distinct texts keeps flat memory; batch runs also memoise
        # decisions per text, so an evicted vector is only re-encoded if a later call asks for it again.
        self.cache_limit = cache_limit
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.texts_encoded = 0  # texts sent to the model: tests and benchmarks read it
        self.model_calls = 0

    @property
    def name(self) -> str:
        """The model's full name, stamped into every index and trained model."""
        return self.backend.name

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.backend.dim)

    @property
    def max_tokens(self) -> int:
        """Longest input, in the model's tokens, before it truncates."""
        return int(self.backend.max_tokens)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text under the model's own tokenizer."""
        return self.backend.count_tokens(list(texts))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of unit vectors, one row per input text, in input order."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single str")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            # Longest first, so each batch holds texts of similar length and padding is small.
            missing.sort(key=len, reverse=True)
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                vectors = self._normalise(self.backend.encode_batch(chunk))
                self.model_calls += 1
                self.texts_encoded += len(chunk)
                for text, vec in zip(chunk, vectors, strict=True):
                    self._cache[text] = vec
            for i, text in enumerate(texts):
                out[i] = self._cache[text]
            while len(self._cache) > self.cache_limit:
                self._cache.popitem(last=False)
        return out

    def cache_size(self) -> int:
        """Number of distinct texts held in the cache."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Drop all cached vectors (frees memory in long-running processes)."""
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _normalise(vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # An empty string can come back as a zero vector; leave it zero rather than divide by zero.
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors


_LOADED: dict[str, Encoder] = {}
_LOAD_LOCK = threading.Lock()


def get_encoder(name: str = DEFAULT_ENCODER) -> Encoder:
    """Return the process-wide Encoder for `name`, loading its model on first use only."""
    if name not in ENCODERS:
        known = ", ".join(sorted(ENCODERS))
        raise ValueError(f"unknown encoder {name!r}; choose one of: {known}")
    with _LOAD_LOCK:
        if name not in _LOADED:
            _LOADED[name] = Encoder(ENCODERS[name](), key=name)
        return _LOADED[name]
