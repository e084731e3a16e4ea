"""Structure-aware chunks of a document: never across a section, paragraphs packed up to the model's window.

A chunk is the section's heading followed by as many whole paragraphs as fit the encoder's window; a paragraph
longer than the window is split by the model's own tokens with overlap (embeddings.chunking.split_text). So the
passage that decides a code always has one page and one heading, and the heading gives the model its context.
"""

from __future__ import annotations

from dataclasses import dataclass

from autocode.embeddings import Encoder
from autocode.embeddings.chunking import Chunk, split_text
from autocode.service.documents.extract import Document

__all__ = ["Passage", "passages"]


@dataclass(frozen=True)
class Passage:
    """One chunk of a document with where it came from."""

    chunk: Chunk  # its text and its character span in the document's text
    page: int | None
    heading: str


def passages(encoder: Encoder, doc: Document, *, overlap: int = 32) -> tuple[str, list[Passage]]:
    """The document's text (sections joined) and its chunks, in reading order."""
    window = encoder.max_tokens - 2
    pieces: list[tuple[int, str, list[str]]] = []  # (section number, heading, paragraphs)
    for n, part in enumerate(doc.sections):
        paragraphs = [p.strip() for p in part.text.split("\n\n") if p.strip()]
        if paragraphs:
            pieces.append((n, part.heading, paragraphs))
    flat = [p for _, heading, paragraphs in pieces for p in [heading, *paragraphs] if p]
    tokens = dict(zip(flat, encoder.count_tokens(flat), strict=True)) if flat else {}  # one tokenizer call
    out: list[Passage] = []
    text_parts: list[str] = []
    offset = 0

    def emit(section: int, heading: str, body: str) -> None:
        nonlocal offset
        chunk_text = f"{heading}\n\n{body}" if heading else body
        if text_parts:
            offset += 2  # the "\n\n" that joins chunks in the document's text
        out.append(Passage(Chunk(len(out), offset, offset + len(chunk_text), chunk_text), doc.sections[section].page, heading))
        text_parts.append(chunk_text)
        offset += len(chunk_text)

    for section, heading, paragraphs in pieces:
        room = window - (tokens.get(heading, 0) if heading else 0)
        run: list[str] = []
        used = 0
        for paragraph in paragraphs:
            size = tokens[paragraph]
            if size > room:
                if run:
                    emit(section, heading, "\n\n".join(run))
                    run, used = [], 0
                for piece in split_text(encoder, paragraph, max_tokens=max(room, overlap + 1), overlap=overlap):
                    emit(section, heading, piece.text)
                continue
            if run and used + size > room:
                emit(section, heading, "\n\n".join(run))
                run, used = [], 0
            run.append(paragraph)
            used += size
        if run:
            emit(section, heading, "\n\n".join(run))
    return "\n\n".join(text_parts), out
