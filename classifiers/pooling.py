"""Long texts: score each overlapping chunk, pool the chunk scores into one row per text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autocode.embeddings import Encoder
from autocode.embeddings.chunking import Chunk, split_text


@dataclass(frozen=True)
class Expanded:
    """Texts flattened into chunks: `flat[j]` belongs to text `owner[j]`; `chunks[i]` lists text i's chunks."""

    flat: list[str]
    owner: np.ndarray
    chunks: list[list[Chunk]]


def expand(encoder: Encoder, texts: Sequence[str], *, overlap: int = 32) -> Expanded:
    """Split only the texts that can exceed the model's window (a token spans at least one character)."""
    window = encoder.max_tokens - 2
    chunks = [split_text(encoder, t, overlap=overlap) if len(t) > window else [Chunk(0, 0, len(t), t)] for t in texts]
    flat = [c.text for cs in chunks for c in cs]
    owner = np.repeat(np.arange(len(texts)), [len(cs) for cs in chunks])
    return Expanded(flat, owner, chunks)


def pool(
    scores: np.ndarray,
    owner: np.ndarray,
    n_texts: int,
    *,
    how: str = "mean",
    relevance: np.ndarray | None = None,
    temperature: float = 0.05,
) -> np.ndarray:
    """Pool chunk rows [m, L] into text rows [n, L] by a weighted mean (single-label) or max (multi-label).

    `relevance` (e.g. each chunk's similarity to its nearest training example) weights the mean through a
    softmax per text, so the chunks that look like coded material outvote boilerplate around them.
    """
    if len(owner) == n_texts:  # nothing was split
        return scores
    pooled = np.zeros((n_texts, scores.shape[1]), dtype=np.float64)
    if how == "max":
        pooled[:] = -np.inf
        np.maximum.at(pooled, owner, scores)
        return pooled.astype(scores.dtype)
    rel = np.zeros(len(owner)) if relevance is None else np.asarray(relevance, dtype=np.float64)
    top = np.full(n_texts, -np.inf)
    np.maximum.at(top, owner, rel)
    weight = np.exp((rel - top[owner]) / temperature)
    np.add.at(pooled, owner, scores * weight[:, None])
    total = np.zeros(n_texts)
    np.add.at(total, owner, weight)
    return (pooled / total[:, None]).astype(scores.dtype)


def deciding_chunk(scores: np.ndarray, owner: np.ndarray, text: int, code_column: int) -> int:
    """Position (within text `text`) of the chunk that scores the chosen code highest."""
    rows = np.flatnonzero(owner == text)
    return int(scores[rows, code_column].argmax())
