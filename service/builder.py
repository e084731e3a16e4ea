"""The one builder of the classifier that codes into a target, for `autocode code`, the server and its jobs.

A classifier is assembled in three layers, always in this order:

1. the base: a zero-shot Cascade over a codebook's labels, or a trained model folder loaded whole;
2. a FeedbackMemory around it, filled with the people's corrections stored for the target's key;
3. optionally an LLM adjudicator around that, deciding what is still sent to review.

Corrections are filed under `Target.key`: `codebook:<id>` for a codebook (built-in, uploaded, or a file
declaring that id) and `model:<id>` for a trained model in `$AUTOCODE_HOME/models/<id>`, so a correction
sent to the server is applied by `autocode code` on the same codebook or model too (see `model_target`
for a model folder elsewhere). The server keeps layer 1 and 2 cached and brings the memory up to date
with `FeedbackFeed.catch_up` on every call; the command line builds once with `build_classifier`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.prediction import Classifier

if TYPE_CHECKING:
    from autocode.classifiers.adjudicator import Adjudicator
    from autocode.classifiers.feedback import FeedbackMemory
    from autocode.embeddings import Encoder
    from autocode.service.llm.options import LLMOptions
    from autocode.service.stores.feedback import FeedbackStore

__all__ = ["Built", "FeedbackFeed", "Source", "Target", "build_base", "build_classifier", "catalogue_source", "coding_identity",
           "model_target", "newest_feedback", "source_for", "with_llm", "with_memory"]

log = logging.getLogger("autocode.builder")

_MANIFEST = "model.json"  # classifiers.model.MANIFEST, named here so reading a stamp does not import the model code
_CODEBOOK_SUFFIXES = (".yaml", ".yml", ".json")


class Target:
    """What a text is coded into: `codebook:<id>` (zero-shot) or `model:<id>` (trained)."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind, self.ident = kind, ident

    @property
    def key(self) -> str:
        """The target as one string, the key feedback and jobs are filed under."""
        return f"{self.kind}:{self.ident}"

    @classmethod
    def parse(cls, key: str) -> Target:
        """The inverse of `key`."""
        kind, _, ident = key.partition(":")
        return cls(kind, ident)

    def __repr__(self) -> str:
        return f"Target({self.key!r})"


@dataclass(frozen=True)
class Source:
    """A target and what its base classifier is built from: a codebook (zero-shot) or a trained model folder."""

    target: Target
    codebook: Codebook | None = None
    folder: Path | None = None

    def stamp(self) -> object:
        """A value that changes whenever the codebook or the model does, so a cache never serves a replaced one."""
        if self.folder is not None:
            return (self.folder / _MANIFEST).stat().st_mtime_ns
        assert self.codebook is not None
        return self.codebook.model_dump_json()

    def identity(self, encoder: str) -> str:
        """What decides the answers (before feedback and LLM), as a string for resume keys."""
        if self.folder is not None:
            folder = self.folder.resolve()
            return f"model:{folder}@{folder.stat().st_mtime_ns}"
        assert self.codebook is not None
        digest = hashlib.sha256(self.codebook.model_dump_json().encode()).hexdigest()[:12]
        return f"codebook:{self.codebook.id}@{self.codebook.version}#{digest}:{encoder}"


def catalogue_source(target: Target) -> Source:
    """The source of a target the server names by id; a NotFoundError kind when the catalogue has no such id."""
    from autocode.service.stores.catalogue import find_codebook, model_dir

    if target.kind == "model":
        return Source(target, folder=model_dir(target.ident))
    return Source(target, codebook=find_codebook(target.ident))


def source_for(codebook: str | None = None, model: Path | None = None) -> Source:
    """The source for `--codebook ID|PATH` or `--model FOLDER`, keyed as the server keys the same codebook or model."""
    if (codebook is None) == (model is None):
        from autocode.errors import InvalidError

        raise InvalidError("give exactly one of --codebook ID|PATH or --model MODEL_DIR")
    if model is not None:
        from autocode.classifiers.model import read_manifest

        read_manifest(model)  # a missing or broken folder is named before anything is digested or loaded
        return Source(model_target(model), folder=Path(model))
    assert codebook is not None
    from autocode.classifiers.codebook import builtin_codebook_ids, load_codebook
    from autocode.service.stores.catalogue import find_codebook

    path = Path(codebook)
    if codebook not in builtin_codebook_ids() and (path.suffix.lower() in _CODEBOOK_SUFFIXES or path.is_file()):
        book = load_codebook(path)
    else:
        book = find_codebook(codebook)  # built-in, or uploaded to this AUTOCODE_HOME
    # A codebook file is filed under the id it declares: the key it has once uploaded to a server.
    return Source(Target("codebook", book.id), codebook=book)


def model_target(folder: Path) -> Target:
    """The target a model folder's feedback is filed under.

    A folder that is `$AUTOCODE_HOME/models/<id>` (the server's catalogue) is `model:<id>`, the key the API
    uses for it. A folder anywhere else is `model:sha256:<first 16 hex digits of its model.json>`: the
    manifest records the training time and every fitted parameter, so the key follows one trained model
    through copies and moves, and cannot collide with a catalogue id (ids have no ':').
    """
    from autocode.service.stores.catalogue import CatalogueError, model_dir

    resolved = Path(folder).resolve()
    try:
        if model_dir(resolved.name).resolve() == resolved:
            return Target("model", resolved.name)
    except CatalogueError:  # not an id, or no such model in the catalogue: the folder is not the catalogue's
        pass
    digest = hashlib.sha256((resolved / _MANIFEST).read_bytes()).hexdigest()[:16]
    return Target("model", f"sha256:{digest}")


def build_base(source: Source, encoder: Encoder | str) -> Any:
    """The base classifier: the trained model (its own encoder), or a zero-shot Cascade over the codebook."""
    if source.folder is not None:
        from autocode.classifiers.model import load_model

        return load_model(source.folder)
    from autocode.classifiers.cascade import Cascade
    from autocode.embeddings import get_encoder

    # No labelled data: the cascade runs exact alias matching, then zero-shot on the labels' own words.
    assert source.codebook is not None, "a Source has a codebook or a folder"
    return Cascade(get_encoder(encoder) if isinstance(encoder, str) else encoder, source.codebook).fit([], [])


def with_memory(base: Any) -> FeedbackMemory:
    """An empty feedback memory around `base`, in its encoder and codebook."""
    from autocode.classifiers.feedback import FeedbackMemory

    return FeedbackMemory(base, base.encoder, base.codebook)


class FeedbackFeed:
    """Brings feedback memories up to date with a store, reading only the rows newer than each memory holds."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        # Per memory object, so a memory rebuilt for a retrained model starts again from the first row.
        self._applied: weakref.WeakKeyDictionary[FeedbackMemory, int] = weakref.WeakKeyDictionary()

    def catch_up(self, memory: FeedbackMemory, key: str) -> int:
        """Add the corrections for `key` stored since the last call for `memory`; returns the newest feedback_id read."""
        with self._lock:
            seen = self._applied.get(memory, 0)
            rows = self.store.for_target(key, after_id=seen)
            if rows:
                _add_corrections(memory, key, rows)
                seen = max(int(r["feedback_id"]) for r in rows)
                self._applied[memory] = seen
            return seen


def _add_corrections(memory: FeedbackMemory, key: str, rows: list[dict[str, Any]]) -> None:
    items = [(r["text"], r["codes"], r.get("note", "")) for r in rows]
    try:
        memory.add_many(items)  # one encode call for the lot
    except ValueError:
        # A stale row (a code the re-uploaded codebook dropped) must not stop the target from coding at all.
        for row, item in zip(rows, items, strict=True):
            try:
                memory.add_many([item])
            except ValueError as exc:
                log.warning("feedback %s for %s skipped: %s", row["feedback_id"], key, exc)


def with_llm(classifier: Classifier, llm: LLMOptions | None, *, chat: Any = None) -> Any:
    """`classifier` with its review items sent to the LLM when `llm` is on; else `classifier` itself."""
    if llm is None or not llm.enabled:
        return classifier
    from autocode.service.llm.options import make_adjudicator

    return make_adjudicator(classifier, llm, chat=chat)


def coding_identity(source: Source, encoder_key: str, feedback_id: int) -> str:
    """What decides a run's answers, for its job key: the source, its encoder, and the newest correction applied."""
    identity = source.identity(encoder_key)
    if feedback_id:
        identity += f"+feedback:{source.target.key}@{feedback_id}"  # a newer correction makes another job
    return identity


def newest_feedback(store: FeedbackStore | None, source: Source) -> int:
    """The id of the newest stored correction for the source's target (0: none), as build_classifier applies them."""
    rows = store.for_target(source.target.key) if store is not None else []
    return max((int(r["feedback_id"]) for r in rows), default=0)


@dataclass(frozen=True)
class Built:
    """A classifier ready to code, with its layers and a string that identifies all it decides by."""

    source: Source
    classifier: Any  # what to predict with: the memory, or the adjudicator around it
    memory: FeedbackMemory
    adjudicator: Adjudicator | None
    feedback_id: int  # the newest stored correction read for the target (0: none)
    identity: str


def build_classifier(
    target: Source | Target,
    *,
    encoder: Encoder | str,
    feedback_store: FeedbackStore | None = None,
    llm: LLMOptions | None = None,
) -> Built:
    """Build a target's classifier once: its base, the stored feedback for `target.key`, and the LLM when `llm` is on."""
    source = target if isinstance(target, Source) else catalogue_source(target)
    memory = with_memory(build_base(source, encoder))
    key = source.target.key
    applied = FeedbackFeed(feedback_store).catch_up(memory, key) if feedback_store is not None else 0
    classifier = with_llm(memory, llm)
    encoder_key = encoder if isinstance(encoder, str) else encoder.key
    identity = coding_identity(source, encoder_key, applied)
    if classifier is not memory and llm is not None:  # with_llm wraps the memory only when llm is given
        identity += f"+llm:{llm.identity}"
    return Built(source, classifier, memory, classifier if classifier is not memory else None, applied, identity)
