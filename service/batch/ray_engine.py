"""The batch on Ray: the decider's calls run on a Ray Data actor pool; the local runner reads and writes every row.

How a run goes
    1. the driver plans, per input file, the exact calls the local runner would make to its decider
       (`runner.plan_calls`: each chunk's new distinct answers, first spelling, in slices): the same texts in the
       same groups, because an encoder's batch composition can move the last digit of a float, and the output must
       be the local engine's byte for byte;
    2. Ray Data maps those calls over an actor pool of `workers` actors (`map_batches`, one call per task): each
       actor builds the decider (encoder and classifier) once, then decides call after call; an actor that dies is
       restarted and its calls retried (`max_restarts`, `max_task_retries`), so a lost worker costs its calls, not
       the run;
    3. the decisions come back to the driver (one per distinct answer, far fewer than rows), and the local engine's
       runner (`run_batch`) writes every row of every file, in input order, looking each answer up instead of
       deciding it: the same reading, bad-row reports, resume and atomic writes.
Reading stays on the driver (the runner's own readers): local paths only; it is the serial part the Ray benchmark
measures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autocode.errors import InvalidError
from autocode.service.batch.runner import Decide

__all__ = ["DeciderSpec", "RayDecisions", "ray_decide"]

@dataclass(frozen=True)
class DeciderSpec:
    """What each actor builds, in plain values so it can be shipped to workers: a codebook or model, or employers."""

    codebook: str | None = None
    model: str | None = None
    employers: bool = False
    encoder: str = "minilm"
    home: str | None = None  # AUTOCODE_HOME of the driver (its feedback and records), when workers share the disk

    def build(self) -> Decide:
        """The decider, built once per actor."""
        if self.home:
            os.environ["AUTOCODE_HOME"] = self.home
        if self.employers:
            from autocode.service.employer_engine import get_resolver

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
    """A Ray Data actor: the decider is built in __init__, once per actor process."""

    def __init__(self, spec: DeciderSpec) -> None:
        self.decide = spec.build()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        fields = [json.dumps(self.decide(json.loads(str(texts))), ensure_ascii=False) for texts in batch["texts"]]
        return {"file": batch["file"], "texts": batch["texts"], "fields": fields}


class RayDecisions:
    """Every planned call of every input file, decided on Ray; `for_file(n)` serves that file's runner."""

    def __init__(self, spec: DeciderSpec, workers: int) -> None:
        self.spec, self.workers = spec, workers
        self.files: list[dict[str, dict[str, object]]] = []
        self.distinct = 0

    def run(self, paths: Sequence[str], column: str, *, chunk_rows: int, max_chars: int) -> None:
        """Plan each file's calls, decide them all on the actor pool, keep the decisions by file."""
        import ray.data

        from autocode.service.batch.runner import plan_calls

        plans = [plan_calls(Path(p), column, chunk_rows=chunk_rows, max_chars=max_chars) for p in paths]
        items = [{"file": n, "texts": json.dumps(call, ensure_ascii=False)} for n, calls in enumerate(plans) for call in calls]
        self.files = [{} for _ in paths]
        self.distinct = sum(len(call) for calls in plans for call in calls)
        if not items:
            return
        decided = ray.data.from_items(items).map_batches(
            _Decider, fn_constructor_args=(self.spec,), batch_size=1, batch_format="numpy", concurrency=self.workers,
            num_cpus=1, max_restarts=-1, max_task_retries=-1)
        for row in decided.iter_rows():
            texts = json.loads(str(row["texts"]))
            fields = json.loads(str(row["fields"]))
            self.files[int(row["file"])].update(zip(texts, fields, strict=True))

    def for_file(self, n: int) -> Decide:
        """The decider the runner of file `n` calls: a lookup of what Ray decided."""
        decided = self.files[n]

        def decide(texts: list[str]) -> list[dict[str, object]]:
            missing = [t for t in texts if t not in decided]
            if missing:
                raise InvalidError(f"the Ray plan missed {len(missing)} answer(s), e.g. {missing[0]!r}: rerun with --resume")
            return [decided[t] for t in texts]

        return decide


def ray_decide(paths: Sequence[str], column: str, spec: DeciderSpec, *, address: str | None, workers: int,
               chunk_rows: int, max_chars: int) -> RayDecisions:
    """Start (or join) Ray and decide every distinct answer of `paths`."""
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
    found = RayDecisions(spec, workers)
    found.run(paths, column, chunk_rows=chunk_rows, max_chars=max_chars)
    return found
