"""Code a folder of documents: extract in a process pool, chunk by structure, code in batches, one row per document.

Each document is decided once: its result is appended to a work file (JSON lines, fsynced) as soon as its batch is
coded, keyed by path, size and modification time, so `--resume` after a crash or Ctrl-C reads the folder again and
codes only what is new or changed. A file that cannot be read is a row with its reason, never the end of the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autocode.embeddings import Encoder
from autocode.embeddings.chunking import Chunk
from autocode.service.documents.chunks import Passage, passages
from autocode.service.documents.extract import Document, DocumentError, extract_all

__all__ = ["DOC_COLUMNS", "DecideBatches", "DocRun", "Pending", "code_batch", "code_documents", "document_key",
           "local_decide", "run_documents"]

DOC_COLUMNS = ("path", "kind", "pages", "characters", "chunks", "codes", "labels", "confidence", "needs_review", "method",
               "page", "section", "passage", "evidence", "error")
BATCH_CHUNKS = 256  # chunks coded per call: enough to keep the encoder's batches full


@dataclass
class DocRun:
    """What a run did."""

    documents: int = 0
    coded: int = 0
    needs_review: int = 0
    failed: int = 0
    resumed: int = 0
    pages: int = 0
    seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def document_key(path: Path) -> str:
    """Path, size and modification time: a document is decided again only when it changed."""
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}\x1f{st.st_size}\x1f{st.st_mtime_ns}".encode()).hexdigest()[:20]


def _done(work: Path | None) -> dict[str, dict[str, Any]]:
    if work is None or not work.exists():
        return {}
    found: dict[str, dict[str, Any]] = {}
    with open(work, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a killed run may be cut short: that document is coded again
            found[entry["key"]] = entry
    return found


@dataclass(frozen=True)
class Pending:
    """A document read and chunked, waiting for its batch to be coded: only what coding it needs."""

    path: Path
    kind: str
    pages: int | None
    characters: int
    text: str  # the document's text, its chunks joined
    parts: list[Passage]

    def to_json(self) -> dict[str, Any]:
        """Plain values, to ship to a worker that codes the batch."""
        return {"path": str(self.path), "kind": self.kind, "pages": self.pages, "characters": self.characters,
                "text": self.text, "parts": [[p.chunk.index, p.chunk.start, p.chunk.end, p.chunk.text, p.page, p.heading]
                                             for p in self.parts]}

    @classmethod
    def from_json(cls, got: dict[str, Any]) -> Pending:
        """The inverse of to_json."""
        parts = [Passage(Chunk(index, start, end, text), page, heading) for index, start, end, text, page, heading in got["parts"]]
        return cls(Path(got["path"]), got["kind"], got["pages"], got["characters"], got["text"], parts)


# Decides batches in order: each batch's entries ({"row", "sections"}), one per document of the batch.
DecideBatches = Callable[[Iterable[list[Pending]]], Iterable[list[dict[str, Any]]]]


def code_documents(
    paths: Sequence[Path],
    cascade: Any,
    *,
    work: Path | None = None,
    resume: bool = False,
    workers: int = 2,
    max_bytes: int = 50_000_000,
    max_pages: int = 2_000,
    progress: Callable[[int, int, int], None] | None = None,  # (documents done, of all, pages read so far)
) -> DocRun:
    """Code every document in `paths` with `cascade` (a Cascade: it pools the chunks); see the module docstring."""
    return run_documents(paths, cascade.encoder, local_decide(cascade), work=work, resume=resume, workers=workers,
                         max_bytes=max_bytes, max_pages=max_pages, progress=progress)


def local_decide(cascade: Any) -> DecideBatches:
    """Each batch coded here, by `cascade`, as it is read: the local engine."""
    return lambda batches: (code_batch(cascade, batch) for batch in batches)


def run_documents(
    paths: Sequence[Path],
    encoder: Encoder,
    decide: DecideBatches,
    *,
    work: Path | None = None,
    resume: bool = False,
    workers: int = 2,
    max_bytes: int = 50_000_000,
    max_pages: int = 2_000,
    progress: Callable[[int, int, int], None] | None = None,
) -> DocRun:
    """code_documents with the coding left to `decide`: `encoder` chunks, `decide` codes the batches (here or on Ray).

    The batches are the same whoever decides: documents in input order, cut once they hold BATCH_CHUNKS chunks.
    """
    began = time.perf_counter()
    run = DocRun(documents=len(paths))
    done = _done(work) if resume else {}
    if work is not None and not resume:
        work.unlink(missing_ok=True)
    keys = {p: document_key(p) for p in paths}
    todo = [p for p in paths if keys[p] not in done]
    run.resumed = len(paths) - len(todo)
    results: dict[str, dict[str, Any]] = {k: v for k, v in done.items() if k in set(keys.values())}
    planned: deque[list[Pending]] = deque()  # batches handed to `decide`, not yet back

    def keep(path: Path, entry: dict[str, Any]) -> None:
        results[keys[path]] = entry
        _append(work, {**entry, "key": keys[path]})

    def batches() -> Iterator[list[Pending]]:
        pending: list[Pending] = []
        pending_chunks = pages_read = 0
        for read, (path, got) in enumerate(extract_all(todo, workers=workers, max_bytes=max_bytes, max_pages=max_pages),
                                           start=1):
            if isinstance(got, DocumentError):
                keep(path, {"row": _failed_row(path, got.reason), "sections": []})
            else:
                pages_read += got.pages or 0
                text, parts = passages(encoder, got)
                if not parts:
                    keep(path, {"row": _failed_row(path, "no text", got), "sections": []})
                else:
                    pending.append(Pending(path, got.kind, got.pages, got.characters, text, parts))
                    pending_chunks += len(parts)
                    if pending_chunks >= BATCH_CHUNKS:
                        planned.append(pending)
                        yield pending
                        pending, pending_chunks = [], 0
            if progress is not None:
                progress(run.resumed + read, len(paths), pages_read)
        if pending:
            planned.append(pending)
            yield pending

    for entries in decide(batches()):
        for item, entry in zip(planned.popleft(), entries, strict=True):
            keep(item.path, entry)
    for path in paths:
        entry = results[keys[path]]
        run.rows.append(entry["row"])
        run.sections.extend(entry["sections"])
        if entry["row"]["error"]:
            run.failed += 1
            run.failures.append(f"{path}: {entry['row']['error']}")
        else:
            run.coded += 1
            run.needs_review += bool(entry["row"]["needs_review"])
            run.pages += int(entry["row"]["pages"] or 0)
    run.seconds = time.perf_counter() - began
    return run


def code_batch(cascade: Any, batch: list[Pending]) -> list[dict[str, Any]]:
    """One call of `cascade.predict_chunks` for a batch of documents: each document's entry (row and sections)."""
    predictions, chunk_scores = cascade.predict_chunks([item.text for item in batch], [[p.chunk for p in item.parts]
                                                                                      for item in batch])
    classes = list(cascade.classes_)
    out = []
    first = 0
    for item, p in zip(batch, predictions, strict=True):
        path, parts = item.path, item.parts
        rows = chunk_scores[first: first + len(parts)]
        first += len(parts)
        column = classes.index(p.codes[0]) if p.codes and p.codes[0] in classes else int(rows.max(axis=0).argmax())
        best = int(rows[:, column].argmax())
        deciding = parts[best]
        evidence = [e.to_dict() for e in p.evidence]
        evidence.insert(0, {"kind": "passage", "text": deciding.chunk.text, "code": p.codes[0] if p.codes else None,
                            "score": round(float(rows[best, column]), 4), "page": deciding.page,
                            "section": deciding.heading})
        if p.reason:
            evidence.insert(0, {"kind": "reason", "text": p.reason, "code": None, "score": None})
        row = {"path": str(path), "kind": item.kind, "pages": item.pages, "characters": item.characters, "chunks": len(parts),
               "codes": "|".join(p.codes), "labels": "|".join(p.labels), "confidence": round(float(p.confidence), 4),
               "needs_review": bool(p.needs_review), "method": p.method, "page": deciding.page,
               "section": deciding.heading, "passage": deciding.chunk.text[:500], "evidence": json.dumps(evidence, ensure_ascii=False),
               "error": ""}
        sections = []
        for part, scores in zip(parts, rows, strict=True):
            order = np.argsort(-scores)[:3]
            sections.append({"path": str(path), "chunk": part.chunk.index + 1, "page": part.page, "section": part.heading,
                             "characters": len(part.chunk.text),
                             "top_codes": "|".join(classes[j] for j in order),
                             "top_scores": "|".join(f"{float(scores[j]):.4f}" for j in order),
                             "text": part.chunk.text[:300]})
        out.append({"row": row, "sections": sections})
    return out


def _failed_row(path: Path, reason: str, doc: Document | None = None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(DOC_COLUMNS, "")
    row.update(path=str(path), kind=doc.kind if doc else path.suffix.lower().lstrip("."), pages=doc.pages if doc else None,
               characters=doc.characters if doc else 0, chunks=0, confidence=0.0, needs_review=True, method="none",
               page=None, error=reason, evidence="[]")
    return row


def _append(work: Path | None, entry: dict[str, Any]) -> None:
    if work is None:
        return
    work.parent.mkdir(parents=True, exist_ok=True)
    with open(work, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())  # a decided document survives a power cut: --resume will not code it again
