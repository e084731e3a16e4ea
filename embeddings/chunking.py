"""Split a text longer than the model's window into overlapping chunks, by the model's own tokens."""

from __future__ import annotations

from dataclasses import dataclass

from autocode.embeddings.encoder import Encoder


@dataclass(frozen=True)
class Chunk:
    """One window of a long text: its position among the chunks, its character span and its text."""

    index: int
    start: int
    end: int
    text: str


def split_text(encoder: Encoder, text: str, *, max_tokens: int | None = None, overlap: int = 32) -> list[Chunk]:
    """Chunks of at most `max_tokens` model tokens overlapping by `overlap`; one chunk when the text fits."""
    window = max_tokens or encoder.max_tokens - 2  # room for [CLS]/[SEP]
    if overlap >= window:
        raise ValueError(f"overlap ({overlap}) must be smaller than the window ({window} tokens)")
    spans = encoder.backend.token_spans(text)
    if len(spans) <= window:
        return [Chunk(0, 0, len(text), text)]
    chunks = []
    step = window - overlap
    for n, first in enumerate(range(0, len(spans), step)):
        last = min(first + window, len(spans)) - 1
        start, end = spans[first][0], spans[last][1]
        chunks.append(Chunk(n, start, end, text[start:end]))
        if last == len(spans) - 1:
            break
    return chunks
