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

    def codes(self, session_id: str) -> dict[str, Any]:
        """The codes a session's answers may get, and whether the page may edit them (a codebook file of the user's)."""
        queue = self.get(session_id)
        book = getattr(queue.coder, "codebook", None)
        if book is None:
            return {"codes": [], "editable": False, "why": "employer records are edited as records, not codes"}
        path = self._draft_path(queue)
        return {"codes": [{"code": label.code, "name": label.name, "description": label.description,
                           "examples": len(label.examples), "parent": label.parent} for label in book.labels],
                "editable": path is not None, "codebook": book.id, "version": book.version,
                "why": "" if path is not None else "a built-in or uploaded codebook: save it as a YAML file to edit it"}

    def edit_codes(self, session_id: str, op: str, code: str, **given: Any) -> dict[str, Any]:
        """Rename, add (to split) or merge codes of a session's draft codebook file; the file is rewritten atomically."""
        from autocode.classifiers.codebook_edit import add_code, merge_codes, rename_code

        queue = self.get(session_id)
        path = self._draft_path(queue)
        if path is None:
            raise InvalidError("codes: only a codebook given as a YAML or JSON file (a draft from autocode discover, "
                               "say) can be edited here")
        with self._lock:
            coder = queue.coder
            assert isinstance(coder, CodeCoder), "a codebook file's queue has a CodeCoder"
            book = coder.codebook
            if op == "rename":
                new = rename_code(book, code, str(given.get("name", "")), given.get("description"))
            elif op == "add":
                new = add_code(book, code, str(given.get("name") or code), str(given.get("description") or ""))
            elif op == "merge":
                into = str(given.get("into", ""))
                new = merge_codes(book, code, into)
            else:
                raise InvalidError(f"op: {op!r} is not rename, add or merge")
            _write_codebook(new, path)
            if op == "merge":
                for other in self._queues.values():
                    if other.target == queue.target:
                        self.store.recode(other.session_id, code, into)
                        for it in other.items:
                            if it.decision is not None:
                                it.decision["codes"] = [into if c == code else c for c in it.decision["codes"]]
                coder.store.recode(coder.key, code, into)
            self._coders.pop(queue.target, None)
            fresh, _ = self._coder(queue.info["source"])
            for other in self._queues.values():
                if other.target == queue.target:
                    other.use_coder(fresh)
        return self.codes(session_id)

    def _draft_path(self, queue: ReviewQueue) -> Path | None:
        source = queue.info["source"]
        if source.get("kind") != "codebook":
            return None
        path = Path(str(source.get("codebook", "")))
        return path if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file() else None

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


def _write_codebook(book: Any, path: Path) -> None:
    """The codebook as YAML (or JSON), atomically; comments of a hand-edited file are not kept."""
    import json

    import yaml

    from autocode.embeddings.durable import write_bytes_atomic

    data = book.model_dump()
    text = (json.dumps(data, indent=2, ensure_ascii=False) if path.suffix.lower() == ".json"
            else "# Edited on the review page (autocode review): rename, add and merge rewrite this file.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    write_bytes_atomic(path, text.encode("utf-8"))
