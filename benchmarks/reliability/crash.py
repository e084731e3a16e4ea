"""Crash loops: runs killed with SIGKILL at random moments and resumed, and stores written by processes that die.

Each loop first makes the reference (the same job, never interrupted), then starts the job again and again,
killing it with SIGKILL at seeded moments spread over its life: while the model loads and the table is read,
while chunks are decided and their parts written, and while the output is assembled and renamed into place
(moments found by watching the run's work folder, then a random delay). After every kill the output must be
absent or whole; the last resume must leave the reference's bytes and no litter.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.reliability.common import Check

PART = "crash loops"
REPO = Path(__file__).resolve().parents[2]
AUTOCODE = Path(sys.executable).with_name("autocode")
SEED = 19
CODEBOOK = "employer-support"  # nine labels: encoding the labels is not the whole run
ENCODER = "use-multilingual"  # numpy: a killed run restarts in ~2 s, so twenty kills fit the time budget


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "AUTOCODE_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1", **extra}


def sha256(path: Path) -> str:
    """The file's SHA-256, hex."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process (and its group: a server's helpers die with it) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# ---------------------------------------------------------------------- a batch run killed and resumed


@dataclass
class _Watch:
    """What a run's work folder and output folder show at one moment."""

    chunks: int  # parts counted by the saved state
    source_done: bool
    writing: bool  # the output's temporary file is there: assembling or renaming
    output: bool


def _look(work: Path, out: Path) -> _Watch:
    """What the work folders under `work` (a home's runs/, or one job's folder) and the output show now."""
    chunks, done = 0, False
    for state in work.rglob("state.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(state.read_text(encoding="utf-8"))
            chunks, done = int(data.get("chunks_done", 0)), bool(data.get("source_done", False))
    writing = any(out.parent.glob(f".{out.name}.*.partial"))
    return _Watch(chunks, done, writing, out.exists())


@dataclass
class _Moment:
    """When to kill: once the work folder shows `at_chunks` parts (or the output being written), plus a delay."""

    phase: str  # "start", "parts", "output"
    at_chunks: int = 0
    delay: float = 0.0


def plan_moments(kills: int, chunks: int, rng: random.Random) -> list[_Moment]:
    """Seeded kill moments spread over a run's life: start-up and reading, parts, assembling and renaming."""
    n_start = max(1, kills // 10)
    n_output = max(1, kills // 5)
    n_parts = max(0, kills - n_start - n_output)
    # Parts: targets rise through the run, so each resume gets further before its kill.
    targets = sorted(rng.randint(1, max(1, chunks - 1)) for _ in range(n_parts))
    moments = [_Moment("parts", t, rng.uniform(0.0, 0.4)) for t in targets]
    moments += [_Moment("output", chunks, rng.uniform(0.0, 0.25)) for _ in range(n_output)]
    # Start-up kills (model loading, the table read past) go anywhere but first: a server's first kill
    # comes after its job was submitted, when a start-up delay would land after the job is done.
    for _ in range(n_start):
        moments.insert(rng.randint(1, len(moments)), _Moment("start", 0, rng.uniform(0.05, 1.5)))
    return moments


@dataclass
class LoopResult:
    """What one kill-and-resume loop saw."""

    kills: int = 0
    resumes: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # where the kills landed
    broken: list[str] = field(default_factory=list)  # promises broken, in words
    digest: str = ""


def kill_loop(cmd: list[str], resume_flag: str, env: dict[str, str], home: Path, out: Path, reference: Path,
              moments: list[_Moment], timeout: float = 300.0) -> LoopResult:
    """`cmd` killed at each moment and restarted with `resume_flag`; then run to its end and compared."""
    return _loop(lambda first: _start(cmd if first else [*cmd, resume_flag], env), home / "runs", out, reference,
                 moments, lambda: _finish([*cmd, resume_flag], env, timeout), timeout, home / "runs")


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _finish(cmd: list[str], env: dict[str, str], timeout: float) -> str | None:
    """Run `cmd` to its end; None when it succeeded, else what went wrong."""
    proc = subprocess.run(cmd, check=False, env=env, cwd=REPO, capture_output=True, timeout=timeout)
    return None if proc.returncode == 0 else f"the last resume exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]}"


def _loop(start: Callable[[bool], subprocess.Popen[bytes]], work: Path, out: Path, reference: Path,
          moments: list[_Moment], finish: Callable[[], str | None], timeout: float, runs: Path | None) -> LoopResult:
    """Start `cmd`, SIGKILL it at each moment, restart with `resume_flag`; finally run it to the end and compare."""
    want = sha256(reference)
    result = LoopResult()
    for i, moment in enumerate(moments):
        proc = start(i == 0)
        started = time.monotonic()
        while proc.poll() is None and time.monotonic() - started < timeout:
            seen = _look(work, out)
            # A finished output ends every wait: a server does not exit when its job is done.
            if (moment.phase == "start" or seen.output or (moment.phase == "parts" and seen.chunks >= moment.at_chunks)
                    or (moment.phase == "output" and (seen.writing or seen.source_done))):
                break
            time.sleep(0.005)
        if moment.delay:
            time.sleep(moment.delay)
        ended = proc.poll() is not None
        if not ended:
            _kill(proc)
            result.kills += 1
        stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        if ended and proc.returncode != 0:
            result.broken.append(f"a run exited {proc.returncode}: {stderr.strip()[-300:]}")
        seen = _look(work, out)
        where = ("finished before the kill" if ended else "while writing the output" if seen.writing
                 else "after the output was renamed" if seen.output else f"after {seen.chunks} parts" if seen.chunks
                 else "before the first part")
        bucket = where if not where.startswith("after ") or "parts" not in where else "while deciding chunks / writing parts"
        result.seen[bucket] = result.seen.get(bucket, 0) + 1
        # The promise between kills: the output is absent or whole (it is renamed into place at once).
        if out.exists() and sha256(out) != want:
            result.broken.append(f"after a kill {where}, {out.name} exists but differs from the reference")
    result.resumes = len(moments)
    problem = finish()
    if problem:
        result.broken.append(problem)
        return result
    result.digest = sha256(out)
    if result.digest != want:
        result.broken.append(_diff(reference, out))
    litter = [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    kept = [str(p) for p in runs.glob("*") if p.is_dir()] if runs is not None and runs.exists() else []
    if litter or kept:
        result.broken.append(f"left behind: {litter + kept}")
    return result


def _diff(reference: Path, out: Path) -> str:
    """In words, how `out` differs from `reference`: rows lost, repeated, reordered or changed."""
    with open(reference, encoding="utf-8", newline="") as a, open(out, encoding="utf-8", newline="") as b:
        want, got = list(csv.reader(a)), list(csv.reader(b))
    ids_want, ids_got = [r[0] for r in want], [r[0] for r in got]
    if ids_got != ids_want:
        return (f"rows differ: {len(ids_got)} rows, {len(set(ids_got))} distinct ids, reference {len(ids_want)}"
                f" ({'same set, other order' if set(ids_got) == set(ids_want) else 'other ids'})")
    changed = [i for i, (x, y) in enumerate(zip(want, got, strict=True)) if x != y]
    return f"same rows in order, but {len(changed)} rows' cells differ (first: row {changed[0]}: {want[changed[0]]} vs {got[changed[0]]})"


def _outcome(r: LoopResult, what: str) -> str:
    where = ", ".join(f"{n} {k}" for k, n in sorted(r.seen.items(), key=lambda kv: -kv[1]))
    tail = f"{what} identical (sha256 {r.digest[:12]})" if not r.broken else "; ".join(r.broken[:3])
    return f"{r.kills} kills ({where}), {r.resumes} resumes, {tail}"


def write_survey(path: Path, rows: int, distinct: int) -> None:
    """The service benchmark's generated survey column (Zipf-like over `distinct` answers)."""
    from benchmarks.bench_service import write_survey_csv

    write_survey_csv(path, rows, distinct, seed=SEED)


def code_loop(work: Path, rows: int, kills: int, chunk_rows: int, rng: random.Random) -> Check:
    """`autocode code` killed at random moments and resumed until it finishes."""
    t0 = time.time()
    home = work / "home-code"
    source = work / "survey.csv"
    write_survey(source, rows, distinct=max(200, rows // 30))
    env = _env(home)
    base = [str(AUTOCODE), "code", str(source), "--column", "text", "--codebook", CODEBOOK, "--encoder", ENCODER,
            "--chunk-rows", str(chunk_rows), "--show", "0"]
    reference = work / "reference.coded.csv"
    subprocess.run([*base, "-o", str(reference)], env=env, cwd=REPO, check=True, capture_output=True, timeout=600)
    out = work / "out" / "survey.coded.csv"
    out.parent.mkdir()
    moments = plan_moments(kills, -(-rows // chunk_rows), rng)
    r = kill_loop([*base, "-o", str(out)], "--resume", env, home, out, reference, moments)
    return Check(PART, f"autocode code, {rows:,} rows ({CODEBOOK}, {ENCODER}), SIGKILL at random moments, --resume",
                 r.kills, len(r.broken), _outcome(r, "output"), time.time() - t0)


# The `autocode employers` command itself, against a cut of the gazetteer and with the numpy encoder: the full
# reference costs ~35 CPU-seconds a start here (resolver fit), too slow for twenty restarts in the time budget.
_EMPLOYERS_MAIN = textwrap.dedent(
    """
    import functools, sys
    import pandas as pd
    from autocode.service import employer_engine as engine
    engine.use_reference(pd.read_parquet(sys.argv[1]))
    engine.get_resolver = functools.partial(engine.get_resolver, encoder=sys.argv[2])
    engine.engine_identity = functools.partial(engine.engine_identity, encoder=sys.argv[2])
    from autocode.service.cli import app
    app(sys.argv[3:], prog_name="autocode")
    """
)


def employers_loop(work: Path, rows: int, kills: int, chunk_rows: int, rng: random.Random, records: int) -> Check:
    """`autocode employers` killed at random moments and resumed until it finishes."""
    from autocode.classifiers.employers.gazetteer import load_gazetteer
    from benchmarks.bench_coding import survey_column

    t0 = time.time()
    home = work / "home-employers"
    gazetteer = load_gazetteer()
    reference_table = work / "reference.parquet"
    cut = gazetteer.sample(n=records, random_state=SEED).reset_index(drop=True)
    cut.to_parquet(reference_table)
    names = list(dict.fromkeys(" ".join(str(n).split()) for n in cut["name"]))
    column, _ = survey_column(names, rows, employers=min(len(names), max(100, rows // 40)), seed=SEED)
    source = work / "employers.csv"
    with open(source, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["respondent_id", "employer"])
        writer.writerows((f"R{i:07d}", name) for i, name in enumerate(column))
    script = work / "employers_main.py"
    script.write_text(_EMPLOYERS_MAIN, encoding="utf-8")
    env = _env(home)
    base = [sys.executable, str(script), str(reference_table), ENCODER, "employers", str(source), "--column", "employer",
            "--chunk-rows", str(chunk_rows), "--show", "0"]
    reference = work / "reference.employers.csv"
    # The first run builds the cut's name index in this home; the reference run after it loads it, as every
    # run in the loop will (a run that built the index could differ in the last digit from one that loaded it).
    subprocess.run([*base, "-o", str(work / "warm.csv")], env=env, cwd=REPO, check=True, capture_output=True, timeout=600)
    subprocess.run([*base, "-o", str(reference)], env=env, cwd=REPO, check=True, capture_output=True, timeout=600)
    out = work / "out-employers" / "employers.employers.csv"
    out.parent.mkdir()
    moments = plan_moments(kills, -(-rows // chunk_rows), rng)
    r = kill_loop([*base, "-o", str(out)], "--resume", env, home, out, reference, moments)
    return Check(PART, f"autocode employers, {rows:,} rows ({records:,}-record gazetteer cut, {ENCODER}), SIGKILL at random "
                 "moments, --resume", r.kills, len(r.broken), _outcome(r, "output"), time.time() - t0)


# ---------------------------------------------------------------------- a /v1/jobs job, its server killed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _client(url: str) -> Iterator[object]:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


class _Server:
    """`autocode serve` in its own process group, logging to a file (a full pipe would block it)."""

    def __init__(self, home: Path, chunk_rows: int) -> None:
        self.home, self.port = home, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = _env(home, AUTOCODE_NO_AUTH="true", AUTOCODE_EMPLOYERS="false", AUTOCODE_ENCODER=ENCODER,
                        AUTOCODE_JOB_CHUNK_ROWS=str(chunk_rows), AUTOCODE_PRELOAD_CODEBOOKS=CODEBOOK)

    def start(self) -> subprocess.Popen[bytes]:
        """Start a server process (not waiting for it to be ready)."""
        with open(self.home / "server.log", "ab") as log:
            return subprocess.Popen([str(AUTOCODE), "serve", "--port", str(self.port)], env=self.env, cwd=REPO,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready(self, proc: subprocess.Popen[bytes], within: float = 300.0) -> None:
        """Wait until /readyz answers 200."""
        import httpx

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}: {(self.home / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"server not ready in {within:.0f} s")


def _job(client: object, source: Path) -> str:
    created = client.post("/v1/jobs", data={"column": "text", "codebook": CODEBOOK},  # type: ignore[attr-defined]
                          files={"file": (source.name, source.read_bytes(), "text/csv")})
    if created.status_code != 202:
        raise RuntimeError(f"job not accepted: {created.status_code} {created.text}")
    return str(created.json()["job_id"])


def _wait_done(client: object, job_id: str, within: float = 300.0) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()  # type: ignore[attr-defined]
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} not done in {within:.0f} s")


def jobs_loop(work: Path, rows: int, kills: int, chunk_rows: int, rng: random.Random) -> Check:
    """A /v1/jobs job whose `autocode serve` is killed at random moments and started again until the job is done."""
    t0 = time.time()
    home = work / "home-jobs"
    home.mkdir()
    source = work / "jobs.csv"
    write_survey(source, rows, distinct=max(200, rows // 30))
    server = _Server(home, chunk_rows)
    proc = server.start()
    reference = work / "jobs.reference.csv"
    try:
        server.ready(proc)
        with _client(server.url) as client:
            ref_id = _job(client, source)
            if _wait_done(client, ref_id)["state"] != "done":
                raise RuntimeError(f"the reference job failed: {client.get(f'/v1/jobs/{ref_id}').text}")  # type: ignore[attr-defined]
            reference.write_bytes(client.get(f"/v1/jobs/{ref_id}/result").content)  # type: ignore[attr-defined]
            job_id = _job(client, source)
    except BaseException:
        _kill(proc)
        raise
    job_dir = home / "jobs" / job_id
    out = job_dir / "result.csv"
    got = work / "jobs.result.csv"
    state: dict[str, object] = {}

    def start(first: bool) -> subprocess.Popen[bytes]:
        if first:
            return proc  # the server the job was submitted to is the first one killed
        return server.start()

    def finish() -> str | None:
        last = server.start()
        try:
            server.ready(last)
            with _client(server.url) as client:
                state.update(_wait_done(client, job_id))
                if state["state"] != "done":
                    return f"the job ended {state['state']}: {state.get('error')}"
                got.write_bytes(client.get(f"/v1/jobs/{job_id}/result").content)  # type: ignore[attr-defined]
        finally:
            _kill(last)
        return None

    moments = plan_moments(kills, -(-rows // chunk_rows), rng)
    r = _loop(start, job_dir, out, reference, moments, finish, 300.0, None)
    if not r.broken and sha256(got) != sha256(reference):
        r.broken.append("the downloaded result differs from the reference job's: " + _diff(reference, got))
    return Check(PART, f"/v1/jobs job, {rows:,} rows, `autocode serve` SIGKILLed at random moments and restarted",
                 r.kills, len(r.broken), _outcome(r, "result") + f"; restarts counted {state.get('restarts')}",
                 time.time() - t0)


# ---------------------------------------------------------------------- stores under concurrent writers killed

# One writer process: adds items named <prefix>-<i> one at a time and appends i to its ack file once the
# store has returned (acknowledged). A kill may land between the commit and the ack: present, not acknowledged.
_WRITER = textwrap.dedent(
    """
    import os, sys
    kind, path, prefix, acks = sys.argv[1:5]
    if kind == "records":
        from autocode.service.stores.records import RecordStore
        store = RecordStore(path)
        write = lambda name: store.add({"name": name, "country": "SG", "isic_division": "62"})
    else:
        from autocode.service.stores.feedback import FeedbackStore
        store = FeedbackStore(path)
        write = lambda name: store.add("codebook:employer-support", name, ["study_time"], note=prefix)
    fd = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    i = 0
    while True:
        write(f"{prefix}-{i}")
        os.write(fd, f"{prefix}-{i}\\n".encode())
        i += 1
    """
)


def _stored_names(kind: str, path: Path) -> tuple[list[str], str]:
    """Every name (records) or text (feedback) in the store, and SQLite's integrity check."""
    import sqlite3

    if kind == "records":
        from autocode.service.stores.records import RecordStore

        with RecordStore(path) as store:
            names = [str(r["name"]) for r in store.list(limit=10**9)]
    else:
        from autocode.service.stores.feedback import FeedbackStore

        with FeedbackStore(path) as fb:
            names = [str(r["text"]) for r in fb.for_target("codebook:employer-support")]
    with contextlib.closing(sqlite3.connect(path)) as db:
        integrity = str(db.execute("PRAGMA integrity_check").fetchone()[0])
    return names, integrity


def writers_check(kind: str, work: Path, writers: int, kills: int, rng: random.Random) -> Check:
    """`writers` processes adding to one store, `kills` of them SIGKILLed at random moments (each replaced)."""
    t0 = time.time()
    folder = work / f"writers-{kind}"
    folder.mkdir()
    path = folder / f"{kind}.sqlite3"
    script = folder / "writer.py"
    script.write_text(_WRITER, encoding="utf-8")
    env = _env(folder / "home")
    acks = folder / "acks"
    made = 0

    def spawn() -> subprocess.Popen[bytes]:
        nonlocal made
        made += 1
        return subprocess.Popen([sys.executable, str(script), kind, str(path), f"w{made}", str(acks)], env=env,
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    procs = [spawn() for _ in range(writers)]
    broken: list[str] = []
    killed = 0
    try:
        time.sleep(2.0)  # let every writer import and start writing
        for _ in range(kills):
            time.sleep(rng.uniform(0.05, 0.6))
            i = rng.randrange(len(procs))
            if procs[i].poll() is not None:
                broken.append(f"a writer died by itself: {procs[i].stderr.read().decode(errors='replace')[-300:]}")  # type: ignore[union-attr]
            _kill(procs[i])
            killed += 1
            procs[i] = spawn()
        time.sleep(1.0)
    finally:
        for p in procs:
            _kill(p)
    acked = acks.read_text(encoding="utf-8").split() if acks.exists() else []
    names, integrity = _stored_names(kind, path)
    stored = set(names)
    lost = [a for a in acked if a not in stored]
    dupes = len(names) - len(stored)
    unacked = len(stored) - len(set(acked) & stored)
    total_kills = killed + len(procs)  # the last writers are stopped with SIGKILL too
    if lost:
        broken.append(f"{len(lost)} acknowledged writes missing (first {lost[:3]})")
    if dupes:
        broken.append(f"{dupes} duplicate rows")
    if integrity != "ok":
        broken.append(f"integrity_check: {integrity[:200]}")
    if unacked > total_kills:
        broken.append(f"{unacked} rows stored but never acknowledged, more than the {total_kills} kills explain")
    what = "RecordStore.add" if kind == "records" else "FeedbackStore.add"
    outcome = (f"{total_kills} kills of {made} writer processes; {len(acked):,} acknowledged writes all present, "
               f"{unacked} more committed just before a kill, no duplicates, integrity ok, store opens"
               if not broken else "; ".join(broken[:3]))
    return Check(PART, f"{what} from {writers} concurrent writer processes, SIGKILLed at random moments",
                 total_kills, len(broken), outcome, time.time() - t0)


def records_cli_check(work: Path, processes: int, kills: int, rng: random.Random) -> Check:
    """`autocode records add` run concurrently, some SIGKILLed mid-way: every one that said "added" is stored once."""
    from autocode.service.stores.records import RecordStore

    t0 = time.time()
    home = work / "home-records-cli"
    env = _env(home)
    procs = [subprocess.Popen([str(AUTOCODE), "records", "add", "--name", f"Crash Loop Holdings {i} Pte Ltd", "--country",
                               "SG", "--isic-division", "62"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True) for i in range(processes)]
    victims = rng.sample(range(processes), kills)
    for i in victims:
        time.sleep(rng.uniform(0.1, 1.5))
        _kill(procs[i])
    acked, broken = [], []
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=300)
        if p.returncode == 0 and b"added record" in out:
            acked.append(f"Crash Loop Holdings {i} Pte Ltd")
        elif i not in victims:
            broken.append(f"an unkilled add exited {p.returncode}: {err.decode(errors='replace')[-300:]}")
    with RecordStore(home / "records.sqlite3") as store:
        names = [str(r["name"]) for r in store.list(limit=10**9)]
    if missing := [a for a in acked if a not in names]:
        broken.append(f"{len(missing)} acknowledged adds missing")
    if len(names) != len(set(names)):
        broken.append(f"{len(names) - len(set(names))} duplicates")
    outcome = (f"{kills} of {processes} concurrent adds killed; {len(acked)} acknowledged, all stored once; "
               f"{len(names)} rows, store opens" if not broken else "; ".join(broken[:3]))
    return Check(PART, f"`autocode records add` x{processes} concurrently, {kills} SIGKILLed", kills, len(broken), outcome,
                 time.time() - t0)


# ---------------------------------------------------------------------- the part


def run(quick: bool = False) -> list[Check]:
    """Every crash loop; quick: small tables and few kills (the test suite's version)."""
    rng = random.Random(SEED)
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="autocode-crash-") as tmp:
        work = Path(tmp)
        steps: list[tuple[str, Callable[[Path], Check]]] = [
            ("code", lambda w: code_loop(w, 2_000 if quick else 100_000, 3 if quick else 20, 200 if quick else 2_000, rng)),
            ("employers", lambda w: employers_loop(w, 1_000 if quick else 100_000, 2 if quick else 10,
                                                   250 if quick else 5_000, rng, 1_000 if quick else 3_000)),
            ("jobs", lambda w: jobs_loop(w, 2_000 if quick else 100_000, 2 if quick else 10, 250 if quick else 5_000, rng)),
            ("records", lambda w: writers_check("records", w, 4, 4 if quick else 20, rng)),
            ("feedback", lambda w: writers_check("feedback", w, 4, 4 if quick else 20, rng)),
            ("records-cli", lambda w: records_cli_check(w, 3 if quick else 8, 1 if quick else 3, rng)),
        ]
        for name, step in steps:
            folder = work / name
            folder.mkdir()
            t0 = time.time()
            try:
                checks.append(step(folder))
            except Exception as exc:  # noqa: BLE001 - one broken loop is a failed row; the others still run
                checks.append(Check(PART, f"{name} crash loop", 1, 1, f"raised {type(exc).__name__}: {exc}"[:400],
                                    time.time() - t0))
    return checks
