"""The batch runner: stream a table, decide each distinct text once, write every row back, resumably.

Generic over the decision: `decide(texts) -> [fields]` (one text per distinct key, as first written) may be a classifier over a codebook, the employer
resolver or anything else; the runner owns reading, deduplication, bad rows, progress, parts and resume.

A run keeps a work folder (AUTOCODE_HOME/runs/<hash of the job key>): one Parquet part per finished
chunk, then `state.json`, each replaced atomically. Chunk i is always rows [i*n, (i+1)*n) of the source,
so a killed run resumes at the first chunk without a part, and assembling parts 0..k-1 writes each row once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from autocode.classifiers.normalise import normalise_key
from autocode.classifiers.prediction import Classifier, Prediction
from autocode.embeddings.durable import atomic_file
from autocode.service.batch.state import (
    BatchError,
    RunState,
    clear_work,
    interrupted_run,
    load_state,
    locked,
    make_job_key,
    memo_path,
    part_path,
    save_state,
    work_dir_for,
)
from autocode.service.tables.formats import TableError
from autocode.service.tables.readers import Chunk, TableReader, open_reader
from autocode.service.tables.writers import write_parts

__all__ = [
    "PREDICTION_FIELDS",
    "BatchError",
    "BatchInterrupted",
    "BatchSummary",
    "Decide",
    "classifier_decider",
    "interrupted_run",
    "make_job_key",
    "plan_calls",
    "prediction_fields",
    "run_batch",
    "work_dir_for",
]

Decide = Callable[[list[str]], list[dict[str, object]]]

# The columns a Prediction becomes (without the `<column>_` prefix), and their Arrow types.
PREDICTION_FIELDS: dict[str, pa.DataType] = {
    "code": pa.string(),
    "label": pa.string(),
    "confidence": pa.float64(),
    "method": pa.string(),
    "needs_review": pa.bool_(),
    "evidence": pa.string(),
}
MAX_REPORTED = 20


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or `stop`) during a run; everything up to the last finished chunk is kept for `resume=True`."""

    def __init__(self, rows_done: int, work_dir: Path) -> None:
        super().__init__(f"interrupted after {rows_done} rows")
        self.rows_done = rows_done
        self.work_dir = work_dir


@dataclass
class BatchSummary:
    """What a run did; the counts cover the whole job, also the part done before a resume."""

    rows: int
    unique_texts: int  # texts decided; after a resume, texts decided in both runs count twice
    auto_coded: int
    needs_review: int  # invalid rows included
    invalid_rows: int
    skipped_rows: int  # lines that were no row at all (malformed CSV, broken JSON): not in the output
    seconds: float  # this process only
    output: Path
    resumed_from_row: int = 0
    issues: list[str] = field(default_factory=list)  # the first MAX_REPORTED "row N: reason" lines


# One encoder for every row: json.dumps(..., ensure_ascii=False) builds a new JSONEncoder on each call.
_EVIDENCE_JSON = json.JSONEncoder(ensure_ascii=False).encode


def prediction_fields(p: Prediction) -> dict[str, object]:
    """A Prediction as the runner's output fields; multi-label codes and labels are `|`-joined."""
    evidence = [e.to_dict() for e in p.evidence]
    if p.reason:
        evidence.insert(0, {"kind": "reason", "text": p.reason, "code": None, "score": None})
    return {
        "code": "|".join(p.codes),
        "label": "|".join(p.labels),
        "confidence": round(float(p.confidence), 4),
        "method": p.method,
        "needs_review": bool(p.needs_review),
        "evidence": _EVIDENCE_JSON(evidence),
    }


def classifier_decider(classifier: Classifier) -> Decide:
    """A decider that runs `classifier.predict` on a chunk's new texts (the classifier stays reachable as `.classifier`)."""

    def decide(texts: list[str]) -> list[dict[str, object]]:
        return [prediction_fields(p) for p in classifier.predict(texts)]

    decide.classifier = classifier  # type: ignore[attr-defined]  # a function attribute: mypy knows none on functions
    return decide


def run_batch(
    source: Path,
    column: str,
    decide: Decide,
    output: Path,
    *,
    job_key: str,
    resume: bool = False,
    chunk_rows: int = 20_000,
    max_chars: int = 20_000,
    progress: bool = True,
    fields: Mapping[str, pa.DataType] = PREDICTION_FIELDS,
    report: Callable[[str], None] | None = None,
    work_dir: Path | None = None,
    memo_limit: int = 1_000_000,
    decide_batch: int = 2_048,
    on_progress: Callable[[int, int | None], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> BatchSummary:
    """Code `column` of `source` into `output` (all input columns + `<column>_<field>`), atomically and resumably.

    `decide` gets each chunk's new distinct normalised texts (at most `decide_batch` per call) and returns
    one dict of `fields` per text.
    Bad rows are coded needs-review with method "invalid" and reported through `report` (stderr by default).
    `on_progress(rows_done, estimated_total_rows)` follows every chunk and every decided slice; when `stop()`
    turns true (checked before each chunk and each slice) the run raises BatchInterrupted, resumable.
    """
    source, output = Path(source), Path(output)
    if output.resolve() == source.resolve():
        raise BatchError(f"{output}: the output would overwrite the input; choose another --output")
    started = time.perf_counter()
    work = work_dir or work_dir_for(job_key)
    stderr = Console(stderr=True)
    report = report or (lambda line: stderr.print(line, markup=False, highlight=False))
    prefixed = {f"{column}_{name}": kind for name, kind in fields.items()}
    with locked(work):
        state = load_state(work, job_key) if resume else None
        if state is None or state.fields != list(fields):
            clear_work(work)
            state = RunState(job_key=job_key, chunk_rows=chunk_rows, max_chars=max_chars, fields=list(fields))
            save_state(work, state)
        resumed_from = state.rows_done
        run = _Run(state, work, decide, column, fields, prefixed, report, memo_limit, max(1, decide_batch), on_progress, stop)
        if not state.source_done:
            with open_reader(source, column, chunk_rows=state.chunk_rows) as reader:
                _refuse_clashes(source, reader.columns, prefixed)
                try:
                    run.consume(reader, progress and stderr.is_terminal, stderr)
                except KeyboardInterrupt:
                    raise BatchInterrupted(state.rows_done, work) from None
        if state.issues_total > MAX_REPORTED:
            report(f"... and {state.issues_total - MAX_REPORTED} more")
        parts = [part_path(work, i) for i in range(state.chunks_done)]
        tag = hashlib.sha256(job_key.encode()).hexdigest()[:8]
        try:
            write_parts(parts, output, last=list(prefixed), tag=tag)
        except KeyboardInterrupt:
            raise BatchInterrupted(state.rows_done, work) from None
        clear_work(work)
    shutil.rmtree(work, ignore_errors=True)
    return BatchSummary(
        rows=state.rows_done,
        unique_texts=state.unique_texts,
        auto_coded=state.rows_done - state.needs_review,
        needs_review=state.needs_review,
        invalid_rows=state.invalid_rows,
        skipped_rows=state.skipped_rows,
        seconds=time.perf_counter() - started,
        output=output,
        resumed_from_row=resumed_from,
        issues=list(state.issues),
    )


class _Run:
    """One pass over the source: per chunk, decide new keys, build the output columns, save a part."""

    def __init__(
        self,
        state: RunState,
        work: Path,
        decide: Decide,
        column: str,
        fields: Mapping[str, pa.DataType],
        prefixed: Mapping[str, pa.DataType],
        report: Callable[[str], None],
        memo_limit: int,
        decide_batch: int,
        on_progress: Callable[[int, int | None], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.state, self.work, self.decide, self.column = state, work, decide, column
        self.fields, self.prefixed, self.report, self.memo_limit = fields, prefixed, report, memo_limit
        self.decide_batch = decide_batch
        self.on_progress = on_progress or (lambda done, total: None)
        self.stop = stop or (lambda: False)
        self.memo: dict[str, dict[str, object]] = {}

    def consume(self, reader: TableReader, show: bool, console: Console) -> None:
        """Read every chunk; chunks finished by an earlier run are read past, not redone."""
        state = self.state
        with _progress(show, console) as bar:
            task = bar.add_task("coding", total=None)
            index, seen = -1, 0
            for index, chunk in enumerate(reader.chunks()):
                skipped, reader.skipped[:] = list(reader.skipped), []
                total = reader.estimated_rows()
                bar.update(task, total=total)
                if index < state.chunks_done:
                    self._recall(index)
                    seen += len(chunk.cells)
                    bar.update(task, completed=seen)
                    self.on_progress(seen, total)
                    continue
                self._check_stop()
                _refuse_clashes(reader.path, chunk.table.column_names, self.prefixed)

                def partly(share: float, start: int = seen, n: int = len(chunk.cells), total: int | None = total) -> None:
                    bar.update(task, completed=start + int(n * share))
                    self.on_progress(start + int(n * share), total)

                self._chunk(index, chunk, skipped, partly)
                seen += len(chunk.cells)
                bar.update(task, completed=seen)
                self.on_progress(seen, reader.estimated_rows())
            leftover = list(reader.skipped)  # broken lines after the last full chunk
            if index < 0 and state.chunks_done == 0:
                # No data rows: still write the header, so the output has the columns a reader expects.
                empty = pa.table({name: pa.array([], pa.string()) for name in reader.columns})
                self._chunk(0, Chunk(empty, []), leftover)
            elif leftover:
                state.skipped_rows += len(leftover)
                self._issues([f"line {s.line or '?'}: {s.reason}; skipped" for s in leftover])
            state.source_done = True
            save_state(self.work, state)

    def _chunk(self, index: int, chunk: Chunk, skipped: list[Any], partly: Callable[[float], None] = lambda share: None) -> None:
        state = self.state
        first_row = state.rows_done + 1
        keys, invalid = [], {}
        first_seen: dict[str, str] = {}
        for i, cell in enumerate(chunk.cells):
            text, reason = cell_text(cell, state.max_chars)
            key = normalise_key(text) if text else ""
            if reason is None and not key:
                reason = "empty text"
            keys.append(key)
            if text and key and key not in first_seen:  # a key implies a text; `text` narrows it for mypy
                first_seen[key] = " ".join(text.split())
            if reason is not None:
                invalid[i] = reason
        new = [k for k in dict.fromkeys(keys) if k and k not in self.memo]
        # Slices keep the progress bar moving on a slow model; each slice is still one batched call.
        # The decider sees the first spelling of each key, not the casefolded key: "NUS" and "DBS" are cues.
        for start in range(0, len(new), self.decide_batch):
            self._check_stop()
            keys_part = new[start : start + self.decide_batch]
            self.memo.update(zip(keys_part, self._decide([first_seen[k] for k in keys_part]), strict=True))
            partly(min(1.0, (start + len(keys_part)) / len(new)))
        rows = [invalid_fields(self.fields, self.memo.get(key) if key else None, invalid[i]) if i in invalid
                else self.memo[key] for i, key in enumerate(keys)]
        columns: dict[str, list[object]] = {name: [row.get(name) for row in rows] for name in self.fields}
        table = chunk.table
        for (name, kind), values in zip(self.prefixed.items(), columns.values(), strict=True):
            table = table.append_column(pa.field(name, kind), pa.array(values, kind))
        decided = {"key": pa.array(new, pa.string())}
        decided.update({name: pa.array([self.memo[k].get(name) for k in new], kind) for name, kind in self.fields.items()})
        with atomic_file(memo_path(self.work, index), "tmp") as tmp:
            pq.write_table(pa.table(decided), tmp)
        with atomic_file(part_path(self.work, index), "tmp") as tmp:
            pq.write_table(table, tmp)
        review = columns.get("needs_review")
        state.chunks_done = index + 1
        state.rows_done += len(keys)
        state.unique_texts += len(new)
        state.invalid_rows += len(invalid)
        state.needs_review += sum(bool(v) for v in review) if review is not None else len(invalid)
        state.skipped_rows += len(skipped)
        lines = [f"line {s.line or '?'}: {s.reason}; skipped" for s in skipped]
        lines += [f"row {first_row + i}: {reason}" for i, reason in invalid.items()]
        self._issues(lines)
        save_state(self.work, state)
        self._bound_memo()

    def _bound_memo(self) -> None:
        while len(self.memo) > self.memo_limit:
            self.memo.pop(next(iter(self.memo)))  # oldest first: bounds memory on endless distinct texts

    def _recall(self, index: int) -> None:
        """Take back the decisions a finished chunk made first, so a resumed run decides the rest in the same calls
        (same batches, so the same floats) as a run never interrupted; a part from before memo files is decided anew."""
        path = memo_path(self.work, index)
        if not path.exists():
            return
        decided = pq.read_table(path).to_pylist()
        self.memo.update((row.pop("key"), row) for row in decided)
        self._bound_memo()

    def _check_stop(self) -> None:
        # Raised before any of the chunk is saved, so the saved state still ends at the last whole chunk.
        if self.stop():
            raise BatchInterrupted(self.state.rows_done, self.work)

    def _decide(self, keys: list[str]) -> list[dict[str, object]]:
        results = self.decide(keys)
        if len(results) != len(keys):
            raise BatchError(f"the decider returned {len(results)} results for {len(keys)} texts")
        unknown = {k for r in results for k in r} - set(self.fields)
        if unknown:
            raise BatchError(f"the decider returned undeclared fields: {', '.join(sorted(unknown))}")
        return results

    def _issues(self, lines: list[str]) -> None:
        state = self.state
        room = max(0, MAX_REPORTED - state.issues_total)
        for line in lines[:room]:
            self.report(line)
        state.issues.extend(lines[:room])
        state.issues_total += len(lines)


def plan_calls(source: Path, column: str, *, chunk_rows: int = 20_000, max_chars: int = 20_000,
               decide_batch: int = 2_048) -> list[list[str]]:
    """The texts of every call `run_batch` would make to its decider, in order, without deciding anything.

    Another engine that makes exactly these calls (same texts, same grouping) gets the decisions the local engine
    would, to the last bit: an encoder's batch composition can move a float's last digit.
    """
    calls: list[list[str]] = []
    seen: set[str] = set()
    with open_reader(Path(source), column, chunk_rows=chunk_rows) as reader:
        for chunk in reader.chunks():
            first_seen: dict[str, str] = {}
            for cell in chunk.cells:
                text, _ = cell_text(cell, max_chars)
                key = normalise_key(text) if text else ""
                if key and key not in seen and key not in first_seen:
                    first_seen[key] = " ".join(text.split()) if text else ""
            seen.update(first_seen)
            new = list(first_seen.values())
            calls.extend(new[i: i + decide_batch] for i in range(0, len(new), decide_batch))
    return calls


def cell_text(cell: object, max_chars: int) -> tuple[str | None, str | None]:
    """The text to decide for a cell (a best guess for some bad cells) and why the cell is bad, if it is."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return None, "empty cell"
    if isinstance(cell, bytes):
        raw = cell
        try:
            cell = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace"), "undecodable bytes: not valid UTF-8"
    text = cell if isinstance(cell, str) else str(cell)
    if "\x00" in text:
        # NUL is never typed: the file is damaged or binary, so the row goes to a person, coded on the rest.
        text = text.replace("\x00", " ")
        return (text[:max_chars] if text.strip() else None), "NUL bytes in the text (a damaged or binary file?)"
    if not text.strip():
        return None, "empty cell"
    if len(text) > max_chars:
        return text[:max_chars], f"text too long ({len(text)} characters, at most {max_chars}); coded on its start"
    return text, None


def invalid_fields(fields: Mapping[str, pa.DataType], guess: dict[str, object] | None, reason: str) -> dict[str, object]:
    """Fields for a bad row: the best guess where there is one, always needs_review, method "invalid", the reason first."""
    out: dict[str, object] = dict(guess) if guess else {"code": "", "label": "", "confidence": 0.0}
    prior: object = []
    evidence = guess.get("evidence") if guess else None
    if isinstance(evidence, str):
        with contextlib.suppress(ValueError):
            prior = json.loads(evidence)
    out["method"] = "invalid"
    out["needs_review"] = True
    out["evidence"] = json.dumps(
        [{"kind": "error", "text": reason, "code": None, "score": None}, *(prior if isinstance(prior, list) else [prior])],
        ensure_ascii=False,
    )
    return {name: out.get(name) for name in fields}


def _progress(show: bool, console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
    )


def _refuse_clashes(source: Path, columns: list[str], prefixed: Mapping[str, object]) -> None:
    clash = [c for c in prefixed if c in columns]
    if clash:
        raise TableError(f"{source}: already has column(s) {', '.join(clash)}; rename them or code another column")


