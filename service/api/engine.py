"""The server's models and stores: loaded once at start-up in the background, then shared by every request.

`Engine.load()` runs in a thread started by the app's lifespan, so `/healthz` answers at once while
`/readyz` says 503 until the encoder, the preloaded codebooks and the employer resolver are in memory.
Everything that runs a model is called from the single model thread (see batcher.py) or the job thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.prediction import Prediction
from autocode.service.api.config import Settings
from autocode.service.builder import FeedbackFeed, Source, Target, build_base, catalogue_source, with_llm, with_memory

if TYPE_CHECKING:
    from autocode.classifiers.cascade import Cascade
    from autocode.classifiers.feedback import FeedbackMemory
    from autocode.service.stores.feedback import FeedbackStore

__all__ = ["Engine", "NotReady", "Target"]

log = logging.getLogger("autocode.api")


class NotReady(RuntimeError):
    """A model is asked for before start-up finished loading it."""


class Engine:
    """Loads and caches classifiers per target, applies feedback, and owns the employer resolver."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False
        self.error: str | None = None
        self.loading = "not started"
        self.loaded: list[str] = []
        self.load_seconds: float | None = None
        self._lock = threading.RLock()
        self._classifiers: OrderedDict[tuple[str, Any], tuple[Any, Any]] = OrderedDict()  # key -> (stamp, classifier)
        self._feed: FeedbackFeed | None = None
        self._chat: Any = None

    # ------------------------------------------------------------------ start-up

    def load(self) -> None:
        """Load everything the settings ask for; sets `ready`, or `error` with a one-line reason."""
        start = time.perf_counter()
        try:
            from autocode.embeddings import get_encoder
            from autocode.service.stores.feedback import FeedbackStore

            self.loading = f"encoder {self.settings.encoder}"
            encoder = get_encoder(self.settings.encoder)
            encoder.encode(["warm-up"])  # the first call pays one-off costs; a request should not
            self.loaded.append(f"encoder:{self.settings.encoder}")
            self._feed = FeedbackFeed(FeedbackStore())
            for codebook_id in self.settings.preload_codebooks:
                self.loading = f"codebook {codebook_id}"
                self.classifier(Target("codebook", codebook_id))
                self.loaded.append(f"codebook:{codebook_id}")
            if self.settings.employers:
                self.loading = "employer resolver"
                self.resolver()
                self.loaded.append("employers")
            self.loading = "done"
            self.ready = True
        except Exception as exc:
            log.exception("start-up failed while loading %s", self.loading)
            self.error = f"loading {self.loading} failed: {type(exc).__name__}: {exc}"
        finally:
            self.load_seconds = round(time.perf_counter() - start, 2)

    def require_ready(self) -> None:
        """Raise NotReady until start-up loading has finished."""
        if not self.ready:
            raise NotReady(self.error or f"still loading ({self.loading})")

    @property
    def feedback_store(self) -> FeedbackStore:
        """The feedback store (opened during start-up)."""
        if self._feed is None:
            raise NotReady("still loading")
        return self._feed.store

    # ------------------------------------------------------------------ targets

    def codebook(self, target: Target) -> Codebook:
        """The codebook a target codes into."""
        source = catalogue_source(target)
        return source.codebook if source.codebook is not None else self._base(source).codebook

    def _cached(self, key: tuple[str, Any], stamp: Any, build: Any) -> Any:
        with self._lock:
            hit = self._classifiers.get(key)
            if hit is not None and hit[0] == stamp:
                self._classifiers.move_to_end(key)
                return hit[1]
            value = build()
            self._classifiers[key] = (stamp, value)
            while len(self._classifiers) > 32:
                self._classifiers.popitem(last=False)
            return value

    def _base(self, source: Source) -> Any:
        # The stamp changes with a retrained model or a re-uploaded codebook, which must not be served from the cache.
        return self._cached(("base", source.target.key), source.stamp(), lambda: build_base(source, self.settings.encoder))

    def classifier(self, target: Target) -> FeedbackMemory:
        """The target's classifier wrapped in its feedback memory, brought up to date with the feedback store."""
        base = self._base(catalogue_source(target))
        # The stamp is the base itself (compared by identity), so a rebuilt base gets a new, empty memory.
        memory = self._cached(("memory", target.key), base, lambda: with_memory(base))
        if self._feed is not None:
            self._feed.catch_up(memory, target.key)  # only what arrived since the last request
        return memory

    def classify(self, target: Target, texts: list[str], labels: Sequence[str] | None = None) -> list[Prediction]:
        """Predictions for texts; with `labels`, only those codes may be chosen."""
        from autocode.classifiers.restrict import restrict_to_labels

        memory = self.classifier(target)
        decider = self._adjudicated(memory, target) if self.settings.llm_url else memory
        predictions = decider.predict(texts)
        if not labels:
            return predictions
        return restrict_to_labels(cast("Cascade", memory.base), texts, predictions, labels)  # build_base makes a Cascade

    def _adjudicated(self, memory: Any, target: Target) -> Any:
        # Review items go to the LLM; one client (and its connection pool) per process, one wrapper per memory.
        from autocode.service.llm.options import LLMOptions, make_chat

        s = self.settings
        options = LLMOptions(url=s.llm_url, model=s.llm_model, key_env=s.llm_api_key_env, timeout=s.llm_timeout,
                             concurrency=s.llm_concurrency, accept=s.llm_accept, mode=s.llm_mode)
        with self._lock:
            if self._chat is None:
                self._chat = make_chat(options)
        return self._cached(("llm", target.key), memory, lambda: with_llm(memory, options, chat=self._chat))

    # ------------------------------------------------------------------ employers

    def resolver(self) -> Any:
        """The process-wide employer resolver, synced to the record store."""
        from autocode.service.employer_engine import get_resolver

        return get_resolver(encoder=self.settings.encoder)

    def vector_count(self) -> int:
        """Texts the encoder has embedded so far (a metric)."""
        from autocode.embeddings import get_encoder

        return get_encoder(self.settings.encoder).texts_encoded if self.ready else 0


def read_reference(path: Path) -> Any:
    """A reference table for the employer resolver, with the gazetteer's columns (missing ones filled)."""
    import pandas as pd

    from autocode.classifiers.employers.gazetteer import COLUMNS, LIST_COLUMNS
    from autocode.service.tables.formats import TableError

    if path.suffix.lower() != ".parquet":
        raise TableError(f"{path}: the employer reference must be a Parquet file with the gazetteer's columns")
    frame = pd.read_parquet(path)
    if "name" not in frame.columns:
        raise TableError(f"{path}: no column 'name'; it has {', '.join(map(str, frame.columns))}")
    if "record_id" not in frame.columns or frame["record_id"].isna().any():
        raise TableError(f"{path}: every row needs a record_id")
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = [()] * len(frame) if column in LIST_COLUMNS else ""
    for column in LIST_COLUMNS:
        frame[column] = [tuple(v) if isinstance(v, (list, tuple, np.ndarray)) else () for v in frame[column]]
    frame["record_id"] = frame["record_id"].astype("int64")
    return frame[list(COLUMNS)]
