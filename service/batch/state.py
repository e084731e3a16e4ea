"""A batch job's work folder: its identity, its lock, its saved state and its finished parts.

The folder is AUTOCODE_HOME/runs/<hash of the job key>. After each chunk the runner writes the chunk's
Parquet part, then `state.json`, each replaced atomically: a part without its state update is simply
redone, and a state never counts a part that is not there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autocode.embeddings.durable import write_text_atomic
from autocode.errors import ConflictError, InvalidError
from autocode.service.paths import autocode_home

STATE_VERSION = 1


class BatchError(InvalidError):
    """A run that cannot start or go on (a busy or damaged work folder, a decider breaking its contract)."""


class BatchBusyError(ConflictError, BatchError):
    """Another run of the same job holds its work folder (the conflict kind comes first: it is what this answers as)."""


@dataclass
class RunState:
    """What a job has finished so far; saved after every chunk."""

    job_key: str
    chunk_rows: int
    max_chars: int
    fields: list[str]
    chunks_done: int = 0
    rows_done: int = 0
    source_done: bool = False
    unique_texts: int = 0
    needs_review: int = 0
    invalid_rows: int = 0
    skipped_rows: int = 0
    issues: list[str] = field(default_factory=list)
    issues_total: int = 0
    version: int = STATE_VERSION


def make_job_key(source: Path, column: str, decider: str, **extra: object) -> str:
    """The identity of a job: the input file as it is now (path, size, mtime), the column and the decider."""
    path = Path(source).resolve()
    stat = path.stat()
    key = {"source": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "column": column, "decider": decider}
    return json.dumps({**key, **{k: str(v) for k, v in extra.items()}}, sort_keys=True)


def work_dir_for(job_key: str) -> Path:
    """The folder a job keeps its parts and state in."""
    return autocode_home() / "runs" / hashlib.sha256(job_key.encode()).hexdigest()[:20]


def interrupted_run(job_key: str, work_dir: Path | None = None) -> int | None:
    """Rows already done by an unfinished earlier run of this job, or None when there is none."""
    state = load_state(work_dir or work_dir_for(job_key), job_key)
    return None if state is None else state.rows_done


def part_path(work: Path, index: int) -> Path:
    """Where chunk `index` is kept."""
    return work / f"part-{index:06d}.parquet"


def memo_path(work: Path, index: int) -> Path:
    """Where the decisions first made in chunk `index` are kept (key + fields), for a resumed run to recall."""
    return work / f"memo-{index:06d}.parquet"


def load_state(work: Path, job_key: str) -> RunState | None:
    """The saved state when it belongs to this job and every part it counts is there; else None."""
    try:
        data = json.loads((work / "state.json").read_text(encoding="utf-8"))
        state = RunState(**data)
    except (OSError, ValueError, TypeError):
        return None
    if state.version != STATE_VERSION or state.job_key != job_key:
        return None
    if not all(part_path(work, i).is_file() for i in range(state.chunks_done)):
        return None
    return state


def save_state(work: Path, state: RunState) -> None:
    """Replace the saved state atomically."""
    write_text_atomic(work / "state.json", json.dumps(asdict(state)), "tmp")


def clear_work(work: Path) -> None:
    """Forget an earlier run's parts and state (the lock file stays: it is held)."""
    for path in work.glob("*"):
        if path.name != "lock":
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(work: Path) -> Iterator[None]:
    """Hold the job's lock, so two processes never write the same parts."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "lock", "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one run per job is then the user's care
            yield
            return
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchBusyError(f"another run of this job is in progress (work folder {work})") from None
        yield
