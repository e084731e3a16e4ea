"""Background coding jobs for the HTTP service: uploads kept on disk, a SQLite (WAL) job table, one worker thread.

Each job owns a folder `root/<job_id>/` (root: AUTOCODE_HOME/jobs) holding `input<suffix>` (the upload),
`work/` (run_batch's parts and state while it runs) and `result<suffix>` once done. The table
`root/jobs.sqlite3` records state and progress. A job stopped with the server stays "running"; the next
runner over the same root re-queues it and `run_batch(resume=True)` carries on after its last whole chunk.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Self

import pyarrow as pa

from autocode.embeddings.durable import atomic_file
from autocode.errors import AutocodeError, InvalidError, LimitError
from autocode.service.batch.runner import BatchInterrupted, Decide, run_batch
from autocode.service.paths import autocode_home
from autocode.service.stores.sqlite import SqliteStore
from autocode.service.tables.formats import READERS, TableError

__all__ = ["JOB_STATES", "Job", "JobError", "JobRunner", "JobStore", "JobTooLarge"]

JOB_STATES = ("queued", "running", "done", "failed")
_ID = re.compile(r"[0-9a-f]{16}")
_BLOCK = 1 << 20
_PROGRESS_EVERY_S = 0.5
_POLL_S = 2.0  # how often an idle worker looks for jobs another process queued, or for a freed runner lock
_MAX_ERROR_CHARS = 500
_DDL = (
    (
        "CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE, "
        "state TEXT NOT NULL, target TEXT NOT NULL, column_name TEXT NOT NULL, filename TEXT NOT NULL, "
        "input_path TEXT NOT NULL, output_path TEXT, rows_done INTEGER NOT NULL DEFAULT 0, rows_total INTEGER, "
        "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, error TEXT, summary TEXT, restarts INTEGER NOT NULL DEFAULT 0)"
    ),
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq)",
)
_UPDATABLE = {"state", "output_path", "rows_done", "rows_total", "error", "summary", "restarts"}

log = logging.getLogger("autocode.jobs")


class JobError(InvalidError):
    """A job that cannot be created (bad file type, missing column, unreadable upload) or updated."""

    code = "invalid_file"


class JobTooLarge(LimitError, JobError):
    """An upload over the size limit (the limit kind comes first: it is what this answers as)."""

    code = "file_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than the limit of {limit:,} bytes")
        self.limit = limit


@dataclass
class Job:
    """One job as stored: what to code, where it stands, and what came of it."""

    job_id: str
    state: str
    target: str  # what decides: "codebook:<id>", "model:<name>", "employers" (the service maps it to a decider)
    column: str
    filename: str  # the uploaded name, sanitised
    input_path: str
    output_path: str | None
    rows_done: int
    rows_total: int | None
    created_at: str
    updated_at: str
    error: str | None
    summary: dict[str, Any] | None
    restarts: int

    def to_dict(self) -> dict[str, Any]:
        """The job as plain JSON-ready data."""
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def sanitise_filename(filename: str) -> str:
    """The last path component of an uploaded name, with only safe characters, at most 120 of them."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = re.sub(r"[^\w.\- ()]+", "_", name).strip(" .")
    if len(name) > 120:
        stem, dot, suffix = name.rpartition(".")
        name = f"{stem[: 119 - len(suffix)]}.{suffix}" if dot and len(suffix) < 16 else name[:120]
    return name or "upload"


class JobStore(SqliteStore):
    """The job table and the job folders under `root`; safe to share between threads (one lock, one connection)."""

    SCHEMA_VERSION = 1
    DDL = _DDL
    ERROR = JobError
    # synchronous=FULL (see SqliteStore): writes are a few per second at most; a power cut must not lose a job.

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else autocode_home() / "jobs"
        self._open(self.root / "jobs.sqlite3")

    @staticmethod
    def valid_id(job_id: str) -> bool:
        """Whether `job_id` has the shape of an id this store issues (check ids from URLs before any disk access)."""
        return isinstance(job_id, str) and _ID.fullmatch(job_id) is not None

    def job_dir(self, job_id: str) -> Path:
        """The folder of one job."""
        if not self.valid_id(job_id):
            raise JobError(f"not a job id: {job_id!r}")
        return self.root / job_id

    # ----------------------------------------------------------------- create

    def create(
        self, upload: BinaryIO | IO[bytes] | bytes, filename: str, column: str, target: str, max_bytes: int | None = None
    ) -> Job:
        """Store an upload as a new queued job, once the file is whole and has `column`; else raise JobError."""
        name = sanitise_filename(filename)
        suffix = Path(name).suffix.lower()
        if suffix not in READERS:
            raise JobError(f"{name}: unsupported file type {suffix or '(none)'!r}; upload one of {', '.join(sorted(READERS))}")
        if not column:
            raise JobError("no column given: name the column of text to code")
        if not target:
            raise JobError("no target given")
        job_id = secrets.token_hex(8)
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True)
        try:
            source = folder / f"input{suffix}"
            with atomic_file(source) as tmp, open(tmp, "wb") as fh:
                _copy(upload, fh, max_bytes)
            self._check_readable(source, column, name)
            now = _now()
            job = Job(job_id, "queued", target, column, name, str(source), None, 0, None, now, now, None, None, 0)
            with self._write() as db:
                db.execute(
                    "INSERT INTO jobs (job_id, state, target, column_name, filename, input_path, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, job.state, target, column, name, self._rel(source), now, now),
                )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return job

    @staticmethod
    def _check_readable(source: Path, column: str, name: str) -> None:
        from autocode.service.tables.readers import open_reader

        try:
            open_reader(source, column).close()
        except (TableError, ValueError) as exc:
            # The client knows its file by its own name, not by where the server keeps it.
            raise JobError(str(exc).replace(str(source), name)) from None

    # ----------------------------------------------------------------- reads

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None (also for a malformed id)."""
        if not self.valid_id(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else self._job(row)

    def list(self, limit: int = 50) -> builtins.list[Job]:
        """The most recent jobs, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (int(limit),)).fetchall()
        return [self._job(r) for r in rows]

    def claimable(self) -> builtins.list[Job]:
        """Jobs not yet finished (queued or running), oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY seq").fetchall()
        return [self._job(r) for r in rows]

    def count(self, state: str) -> int:
        """How many jobs are in `state`."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0])

    def result_path(self, job: Job) -> Path:
        """Where a job's coded file is (or will be) written: `result` with the input's suffix."""
        return self.job_dir(job.job_id) / f"result{Path(job.input_path).suffix}"

    # ----------------------------------------------------------------- writes

    def update(self, job_id: str, **fields: Any) -> Job | None:
        """Change some of a job's fields (state, progress, output_path, error, summary, restarts); returns the job."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise JobError(f"cannot update job field(s): {', '.join(sorted(unknown))}")
        if "state" in fields and fields["state"] not in JOB_STATES:
            raise JobError(f"unknown job state {fields['state']!r}; one of {', '.join(JOB_STATES)}")
        if not self.valid_id(job_id):
            return None
        values = dict(fields)
        if "summary" in values and values["summary"] is not None:
            values["summary"] = json.dumps(values["summary"], ensure_ascii=False)
        if values.get("output_path") is not None:
            values["output_path"] = self._rel(Path(values["output_path"]))
        values["updated_at"] = _now()
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._write() as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", (*values.values(), job_id))  # noqa: S608 - column names come from _UPDATABLE only
        return self.get(job_id)

    def requeue_running(self) -> int:
        """Put jobs a dead runner left "running" back in the queue, counting the restart; returns how many."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'queued', restarts = restarts + 1, updated_at = ? WHERE state = 'running'", (_now(),)
            )
            return cursor.rowcount

    # ----------------------------------------------------------------- rows

    def _rel(self, path: Path) -> str:
        # Paths inside root are stored relative to it, so a moved AUTOCODE_HOME keeps its jobs.
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def _abs(self, stored: str) -> str:
        return stored if Path(stored).is_absolute() else str(self.root / stored)

    def _job(self, row: sqlite3.Row) -> Job:
        return Job(
            job_id=row["job_id"],
            state=row["state"],
            target=row["target"],
            column=row["column_name"],
            filename=row["filename"],
            input_path=self._abs(row["input_path"]),
            output_path=None if row["output_path"] is None else self._abs(row["output_path"]),
            rows_done=int(row["rows_done"]),
            rows_total=None if row["rows_total"] is None else int(row["rows_total"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            error=row["error"],
            summary=None if row["summary"] is None else json.loads(row["summary"]),
            restarts=int(row["restarts"]),
        )


def _copy(upload: BinaryIO | IO[bytes] | bytes, out: IO[bytes], max_bytes: int | None) -> None:
    if isinstance(upload, bytes | bytearray | memoryview):
        data = bytes(upload)
        if max_bytes is not None and len(data) > max_bytes:
            raise JobTooLarge(max_bytes)
        out.write(data)
        return
    written = 0
    while block := upload.read(_BLOCK):
        written += len(block)
        if max_bytes is not None and written > max_bytes:
            raise JobTooLarge(max_bytes)
        out.write(block)


DeciderFor = Callable[[Job], tuple[Decide, Mapping[str, pa.DataType]]]


class JobRunner:
    """One worker thread that codes queued jobs oldest first; stopping leaves the current job resumable."""

    def __init__(self, store: JobStore, decider_for: DeciderFor, *, chunk_rows: int = 2000) -> None:
        self.store = store
        self.decider_for = decider_for
        self.chunk_rows = chunk_rows
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: str | None = None

    def start(self) -> None:
        """Start the worker (once); it first re-queues jobs a previous process left running."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, name="autocode-jobs", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Tell the worker a job is waiting (the job is already queued in the store)."""
        self._wake.set()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop after the current decide slice; the job stays "running" for the next start. True when the worker ended."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def queue_depth(self) -> int:
        """How many jobs wait in the queue."""
        return self.store.count("queued")

    def running_job(self) -> str | None:
        """The id of the job being coded now, if any."""
        return self._current

    # ----------------------------------------------------------------- the worker

    def _work(self) -> None:
        with _RunnerLock(self.store.root / "runner.lock") as lock:
            # Only the holder of the runner lock may re-queue "running" jobs: any other runner's are alive.
            while not self._stop.is_set() and not lock.acquire():
                self._stop.wait(_POLL_S)
            if self._stop.is_set():
                return
            requeued = self.store.requeue_running()
            if requeued:
                log.info("re-queued %d job(s) left running by an earlier process", requeued)
            while not self._stop.is_set():
                self._wake.clear()  # before looking, so a submit during the look is not lost
                try:
                    job = next((j for j in self.store.claimable() if j.state == "queued"), None)
                except sqlite3.Error:  # a busy or broken database: retry later rather than end the worker
                    log.exception("could not read the job queue")
                    self._stop.wait(_POLL_S)
                    continue
                if job is None:
                    self._wake.wait(_POLL_S)
                    continue
                try:
                    self._run(job)
                except Exception:  # the store itself failed: keep the worker alive for the next job
                    log.exception("job %s: could not record its outcome", job.job_id)
                    self._stop.wait(_POLL_S)  # the same job may come up again: do not spin on it

    def _run(self, job: Job) -> None:
        store, job_id = self.store, job.job_id
        self._current = job_id
        store.update(job_id, state="running", error=None)
        output = store.result_path(job)
        last = 0.0

        def progress(done: int, total: int | None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= _PROGRESS_EVERY_S:
                last = now
                store.update(job_id, rows_done=done, rows_total=total)

        try:
            decide, fields = self.decider_for(job)
            summary = run_batch(
                Path(job.input_path),
                job.column,
                decide,
                output,
                job_key=json.dumps({"job": job_id, "target": job.target, "column": job.column}, sort_keys=True),
                resume=True,
                chunk_rows=self.chunk_rows,
                progress=False,
                fields=fields,
                report=lambda line: log.debug("job %s: %s", job_id, line),
                work_dir=store.job_dir(job_id) / "work",
                on_progress=progress,
                stop=self._stop.is_set,
            )
        except BatchInterrupted as stop:
            # Left "running": the next runner re-queues it and resumes after the last saved chunk.
            store.update(job_id, rows_done=stop.rows_done)
            log.info("job %s: stopped after %d rows; it resumes on the next start", job_id, stop.rows_done)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            store.update(job_id, state="failed", error=_one_line(exc, job))
        else:
            store.update(
                job_id,
                state="done",
                output_path=str(output),
                rows_done=summary.rows,
                rows_total=summary.rows,
                summary={
                    "rows": summary.rows,
                    "auto_coded": summary.auto_coded,
                    "needs_review": summary.needs_review,
                    "invalid_rows": summary.invalid_rows,
                    "skipped_rows": summary.skipped_rows,
                    "unique_texts": summary.unique_texts,
                    "issues": [line.replace(job.input_path, job.filename) for line in summary.issues],
                },
            )
        finally:
            self._current = None


def _one_line(exc: BaseException, job: Job) -> str:
    """An exception as one line for a client: its own message for expected errors, the type name too otherwise."""
    text = " ".join(str(exc).split()).replace(job.input_path, job.filename)
    if not isinstance(exc, (AutocodeError, ValueError)) or not text:  # a model deleted after the upload is expected too
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:_MAX_ERROR_CHARS]


class _RunnerLock:
    """An advisory lock on the jobs folder, so two runners (threads or processes) never code the same jobs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def __enter__(self) -> Self:
        self._fh = open(self.path, "a+b")  # held for the life of the worker
        return self

    def acquire(self) -> bool:
        """Take the lock without waiting; True when this runner now holds it."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one runner per jobs folder is then the operator's care
            return True
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[union-attr]  # only inside `with`
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
