"""The open review sessions of one process: each a ReviewQueue with its coder, reopened from the store after a restart."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from autocode.errors import InvalidError
from autocode.service.paths import autocode_home
from autocode.service.review.coders import CodeCoder, Coder, EmployerCoder
from autocode.service.review.queue import ReviewQueue
from autocode.service.review.store import ReviewStore

__all__ = ["ReviewSessions", "parse_source"]


def parse_source(codebook: str | None = None, model: str | Path | None = None, employers: bool = False) -> dict[str, Any]:
    """What a queue's suggestions come from, as stored with its session: one of a codebook, a model or employers."""
    given = [x for x in (codebook, model, employers or None) if x]
    if len(given) != 1:
        raise InvalidError("give exactly one of --codebook ID|PATH, --model MODEL_DIR or --employers")
    if employers:
        return {"kind": "employers"}
    if model is not None:
        return {"kind": "model", "model": str(Path(model).resolve())}
    path = Path(str(codebook))
    return {"kind": "codebook", "codebook": str(path.resolve()) if path.is_file() else str(codebook)}


class ReviewSessions:
    """Sessions by id; a coder (and its classifier) is built once per source and shared by the sessions using it."""

    def __init__(self, store: ReviewStore | None = None, *, encoder: str = "minilm", reviewer: str | None = None) -> None:
        from autocode.service.review.coders import default_reviewer

        self.store = store or ReviewStore()
        self.encoder = encoder
        self.reviewer = reviewer or default_reviewer()  # who decides when a request names no one and has no key
        self._lock = threading.RLock()
        self._queues: dict[str, ReviewQueue] = {}
        self._coders: dict[str, Coder] = {}

    def open(self, file: Path, column: str, source: dict[str, Any]) -> ReviewQueue:
        """The session for (file, column, source): resumed when it exists, else created."""
        coder, target = self._coder(source)
        with self._lock:
            queue = ReviewQueue(self.store, coder, Path(file), column, target, source, owner=source.get("owner"))
            self._queues[queue.session_id] = queue
            return queue

    def get(self, session_id: str) -> ReviewQueue:
        """An open session, reopened from the store (its file, column and source) after a restart."""
        with self._lock:
            queue = self._queues.get(session_id)
            if queue is not None:
                return queue
            info = self.store.session(session_id)  # NotFoundError when the id is unknown
            return self.open(Path(info["file"]), info["column"], info["source"])

    def listed(self) -> list[dict[str, Any]]:
        """Every stored session, with its counts where it is open in this process."""
        out = []
        for info in self.store.sessions():
            queue = self._queues.get(info["session_id"])
            out.append({**info, "counts": queue.counts() if queue is not None else None})
        return out

    def save_upload(self, name: str, data: bytes) -> Path:
        """Keep an uploaded coded file under AUTOCODE_HOME/review/ (by content), so its session outlives the request."""
        from autocode.embeddings.durable import write_bytes_atomic

        suffix = Path(name).suffix.lower()
        if suffix not in (".csv", ".tsv", ".jsonl", ".parquet", ".xlsx"):
            raise InvalidError(f"file: {name!r} is not a coded table (.csv, .tsv, .jsonl, .parquet or .xlsx)")
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = autocode_home() / "review" / f"{Path(name).stem[:60]}-{digest}{suffix}"
        if not path.exists():
            write_bytes_atomic(path, data)
        return path

    def _coder(self, source: dict[str, Any]) -> tuple[Coder, str]:
        from autocode.service.builder import build_classifier, source_for
        from autocode.service.stores.feedback import FeedbackStore

        kind = source.get("kind")
        if kind not in ("codebook", "model", "employers"):
            raise InvalidError(f"source: {kind!r} is not codebook, model or employers")
        with self._lock:
            if kind == "employers":
                coder = self._coders.get("employers")
                if coder is None:
                    coder = self._coders["employers"] = EmployerCoder()
                return coder, "employers"
            built_source = source_for(codebook=source.get("codebook"),
                                      model=Path(source["model"]) if kind == "model" else None)
            target = built_source.target.key
            coder = self._coders.get(target)
            if coder is None:
                from autocode.embeddings import get_encoder

                store = FeedbackStore()
                built = build_classifier(built_source, encoder=get_encoder(self.encoder), feedback_store=store)
                coder = self._coders[target] = CodeCoder(built, store)
            return coder, target
