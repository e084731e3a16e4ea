"""The batch on Ray: the decider's calls run on a Ray Data actor pool; the driver reads the input and writes every row.

Who does what
    - the driver reads the input, with the local engine's own readers, on this machine (local paths only): it is the
      serial part the Ray benchmark measures; Ray Data reads nothing, it only maps the decision calls;
    - each actor of the pool builds the decider (encoder and classifier, or the employer resolver) once, in __init__,
      then decides call after call; an actor that dies is restarted and its calls retried (Ray Data's own actor-pool
      defaults, max_restarts=-1 and max_task_retries=-1), so a lost worker costs its calls, not the run.

Tables (`autocode code` and `autocode employers`)
    1. the driver reads each input file once to plan the exact calls the local runner would make to its decider
       (`runner.plan_calls`: each chunk's new distinct answers, first spelling, in slices): the same texts in the
       same groups, because an encoder's batch composition can move the last digit of a float, and the output must
       be the local engine's byte for byte;
    2. Ray Data maps those calls over the pool (`map_calls`: one call a task);
    3. the decisions come back to the driver (one per distinct answer, far fewer than rows), and the local engine's
       runner (`run_batch`) reads the file again and writes every row, in input order, looking each answer up instead
       of deciding it: the same bad-row reports, resume and atomic writes.

Documents (`autocode code-docs`)
    1. the driver extracts every document (its process pool of `--workers`) and chunks it by the encoder's tokens
       (it loads the encoder for its tokenizer), cutting the same batches of chunks as the local engine
       (`documents.runner.run_documents`), and holds them all until Ray has decided;
    2. batches that share a text the cascade encodes are put in one call, in order (`call_groups`: the local
       process's encoder cache would hand the later batch the first one's vector), and Ray Data maps the calls over
       the pool, each actor coding with the base cascade as the local engine does (`documents.runner.code_batch`);
    3. each document's entry comes back to the driver, which appends it to the resume file and writes the output
       tables: the local engine's bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autocode.errors import InvalidError
from autocode.service.batch.runner import Decide

if TYPE_CHECKING:
    from autocode.service.documents.runner import Pending

__all__ = ["DeciderSpec", "RayDecisions", "RayDocuments", "call_groups", "map_calls", "ray_decide", "start_ray"]

@dataclass(frozen=True)
class DeciderSpec:
    """What each actor builds, in plain values so it can be shipped to workers: a codebook or model, or employers.

    `documents`: the codebook's or model's base cascade, deciding batches of documents (code-docs), not answers.
    """

    codebook: str | None = None
    model: str | None = None
    employers: bool = False
    documents: bool = False
    encoder: str = "minilm"
    home: str | None = None  # AUTOCODE_HOME of the driver (its feedback and records), when workers share the disk
    # The employer reference of the driver (employer_engine.reference_records: the shipped gazetteer, or the frame
    # use_reference swapped in), so every actor resolves against what the driver's job key names.
    reference: Callable[[], Any] | None = None

    def build(self) -> Callable[[Any], Any]:
        """The decider, built once per actor: a call's JSON values in, JSON values out."""
        if self.home:
            os.environ["AUTOCODE_HOME"] = self.home
        if self.documents:
            from autocode.service.builder import build_base, source_for
            from autocode.service.documents.runner import Pending, code_batch

            # code-docs codes with the base cascade (no feedback memory), as the local engine does.
            cascade = build_base(source_for(self.codebook, Path(self.model) if self.model else None), self.encoder)
            return lambda batches: [code_batch(cascade, [Pending.from_json(d) for d in batch]) for batch in batches]
        if self.employers:
            from autocode.service.employer_engine import get_resolver, use_reference

            if self.reference is not None:
                use_reference(self.reference())
            resolver = get_resolver()
            return lambda texts: [r.fields() for r in resolver.resolve(texts)]
        from autocode.service.batch.runner import classifier_decider
        from autocode.service.builder import build_classifier, source_for
        from autocode.service.stores.feedback import FeedbackStore, default_feedback_path

        store = FeedbackStore() if default_feedback_path().is_file() else None
        built = build_classifier(source_for(self.codebook, Path(self.model) if self.model else None), encoder=self.encoder,
                                 feedback_store=store)
        return classifier_decider(built.classifier)


class _Decider:
    """A Ray Data actor: the decider is built in __init__, once per actor process; each row is one call, as JSON."""

    def __init__(self, spec: DeciderSpec) -> None:
        self.decide = spec.build()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = [json.dumps(self.decide(json.loads(str(call))), ensure_ascii=False) for call in batch["call"]]
        return {"n": batch["n"], "out": out}


def map_calls(spec: DeciderSpec, workers: int, calls: Sequence[Any]) -> list[Any]:
    """Each call (plain JSON values) decided by an actor of the pool; what each returned, in call order."""
    import ray.data

    if not calls:
        return []
    # One block per call, so each is its own input and the pool can spread them; never more actors than calls
    # (an actor with nothing to take would only load the model).
    items = [{"n": n, "call": json.dumps(call, ensure_ascii=False)} for n, call in enumerate(calls)]
    pool = ray.data.ActorPoolStrategy(size=max(1, min(workers, len(items))))
    # An actor that dies (a node lost, an OOM kill) is restarted and its calls retried, without end: Ray Data gives
    # an actor pool max_restarts=-1 and max_task_retries=-1 itself (passing them is the deprecated ray_remote_args).
    decided = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _Decider, fn_constructor_args=(spec,), batch_size=1, batch_format="numpy", compute=pool, num_cpus=1)
    out: list[Any] = [None] * len(items)
    for row in decided.iter_rows():  # in any order: each row carries its call's number
        out[int(row["n"])] = json.loads(str(row["out"]))
    return out


class RayDecisions:
    """Every planned call of every input file, decided on Ray; `for_file(n)` serves that file's runner."""

    def __init__(self, spec: DeciderSpec, workers: int) -> None:
        self.spec, self.workers = spec, workers
        self.files: list[dict[str, dict[str, object]]] = []
        self.distinct = 0

    def run(self, paths: Sequence[str], column: str, *, chunk_rows: int, max_chars: int) -> None:
        """Plan each file's calls, decide them all on the actor pool, keep the decisions by file."""
        from autocode.service.batch.runner import plan_calls

        plans = [plan_calls(Path(p), column, chunk_rows=chunk_rows, max_chars=max_chars) for p in paths]
        owners = [(n, call) for n, calls in enumerate(plans) for call in calls]
        self.files = [{} for _ in paths]
        self.distinct = sum(len(call) for _, call in owners)
        for (n, texts), fields in zip(owners, map_calls(self.spec, self.workers, [call for _, call in owners]), strict=True):
            self.files[n].update(zip(texts, fields, strict=True))

    def for_file(self, n: int) -> Decide:
        """The decider the runner of file `n` calls: a lookup of what Ray decided."""
        decided = self.files[n]

        def decide(texts: list[str]) -> list[dict[str, object]]:
            missing = [t for t in texts if t not in decided]
            if missing:
                raise InvalidError(f"the Ray plan missed {len(missing)} answer(s), e.g. {missing[0]!r}: rerun with --resume")
            return [decided[t] for t in texts]

        return decide


def start_ray(address: str | None, workers: int) -> None:
    """Join the cluster at `address`, or start a local Ray of `workers` CPUs, unless this process already has one."""
    import logging

    import ray
    import ray.data

    # Ray Data's per-operator progress lines would bury the run's own output; warnings still show.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(workers, 1), include_dashboard=False, log_to_driver=False)


def ray_decide(paths: Sequence[str], column: str, spec: DeciderSpec, *, address: str | None, workers: int,
               chunk_rows: int, max_chars: int) -> RayDecisions:
    """Start (or join) Ray and decide every distinct answer of `paths`."""
    start_ray(address, workers)
    found = RayDecisions(spec, workers)
    found.run(paths, column, chunk_rows=chunk_rows, max_chars=max_chars)
    return found


def call_groups(batches: Sequence[list[Pending]], *, clauses: bool = False) -> list[list[int]]:
    """The batches as calls: batches that share a text the cascade encodes, in one call, in order.

    The local engine codes its batches in one process, whose encoder keeps each text's vector from the first batch
    that held it, and a vector's last bit can depend on the batch it was encoded in; so a later batch repeating that
    text must run after the first on the same actor (the calls of one group go to one actor, in order) to get the
    same vectors, scores and output bytes. The texts encoded are the passages, and with `clauses` (a multi-label
    model that scores clauses) each document's clauses too, which common sentences make shared far more often.
    """
    from autocode.classifiers.clauses import clause_rows

    group = list(range(len(batches)))  # union-find: each batch points towards the first batch it shares a text with

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    first: dict[str, int] = {}
    for i, batch in enumerate(batches):
        texts = [p.chunk.text for item in batch for p in item.parts]
        if clauses:
            texts += clause_rows([item.text for item in batch])[0]
        for text in texts:
            group[root(i)] = root(first.setdefault(text, i))
    calls: dict[int, list[int]] = {}
    for i in range(len(batches)):
        calls.setdefault(root(i), []).append(i)
    return list(calls.values())


class RayDocuments:
    """The documents runner's `decide` on Ray: once every document is read and chunked, the calls of `call_groups`."""

    def __init__(self, spec: DeciderSpec, workers: int, *, clauses: bool = False) -> None:
        self.spec, self.workers, self.clauses = spec, workers, clauses
        self.batches = self.calls = 0

    def __call__(self, batches: Iterable[list[Pending]]) -> list[list[dict[str, Any]]]:
        """Each batch's entries, in batch order."""
        every = list(batches)  # the driver reads and chunks every document first (the serial part), then Ray decides
        calls = call_groups(every, clauses=self.clauses)
        self.batches, self.calls = len(every), len(calls)
        out: dict[int, list[dict[str, Any]]] = {}
        got = map_calls(self.spec, self.workers, [[[item.to_json() for item in every[i]] for i in call] for call in calls])
        for call, entries in zip(calls, got, strict=True):
            out.update(zip(call, entries, strict=True))
        return [out[i] for i in range(len(every))]
