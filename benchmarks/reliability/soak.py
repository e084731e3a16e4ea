"""Soak: a running `autocode serve` under mixed traffic at a fixed rate; no errors, flat memory, no leaked files or threads.

Open-loop load (requests are scheduled at 200/s whatever the answers do, so a slow server shows as a lower
achieved rate and longer waits, not as a politely slower client) from a minimal asyncio HTTP/1.1 client over
keep-alive loopback connections: httpx costs about 3.6 ms of CPU a request, most of what two cores have at
200/s. The mix: classify one text (50%), resolve an employer name (20%), search records (15%), list or read
records (15%). The server's RSS, open files (/proc/PID/fd) and threads (/proc/PID/task) are sampled every
few seconds; the first fifth of the run (at least 10 s) is warm-up.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.reliability.common import Check
from benchmarks.reliability.fuzz import Server, served

PART = "soak"
RATE = 200.0
CONNECTIONS = 192  # in flight at once: at ~0.7 s an answer under load, 200/s needs about 140 (Little's law)
CODEBOOK = "employer-support"
EMPLOYERS = ["DBS", "dbs bank", "Singapore Airlines", "SIA", "NUS", "national university of singapore", "Grab", "Sea Ltd",
             "OCBC", "uob", "Keppel", "Singtel", "Changi Airport Group", "my own shop", "self-employed", "Tan Tock Seng Hospital",
             "ministry of education", "Shopee", "CapitaLand", "ST Engineering"]
SEARCHES = ["bank", "airline", "university", "hospital", "telecom", "shipping", "property", "engineering", "food", "insurance"]


def soak_seconds(quick: bool) -> float:
    """The run's length: 20 s quick, else AUTOCODE_SOAK_SECONDS (default 600)."""
    return 20.0 if quick else float(os.environ.get("AUTOCODE_SOAK_SECONDS", "600"))


@dataclass
class Sample:
    """The server process at one moment."""

    t: float
    rss_mb: float
    fds: int
    threads: int


def sample(pid: int, t: float) -> Sample:
    """RSS, open file descriptors and threads of `pid` from /proc."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return Sample(t, rss, len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task")))


@dataclass
class Load:
    """What the load generator saw."""

    done: list[tuple[float, float, str]] = field(default_factory=list)  # (finished at, ms, kind)
    errors: list[str] = field(default_factory=list)
    scheduled: int = 0
    unsent: int = 0  # scheduled but still queued when the time was up (the server fell behind)
    late_ms: list[float] = field(default_factory=list)  # how long requests waited for a free connection


def _requests(rng: random.Random, texts: list[str], record_ids: list[int]) -> tuple[str, str, bytes | None, str]:
    """One request of the mix: (method, path, JSON body, kind)."""
    roll = rng.random()
    if roll < 0.50:
        return "POST", "/v1/classify", json.dumps({"text": rng.choice(texts), "codebook": CODEBOOK}).encode(), "classify"
    if roll < 0.70:
        name = rng.choice(EMPLOYERS) + rng.choice(["", " pte ltd", " singapore", " (sg)", " group"])
        return "POST", "/v1/employers/resolve", json.dumps({"text": name}).encode(), "resolve"
    if roll < 0.85:
        body = {"text": rng.choice(SEARCHES), "k": 5, **({"country": "SG"} if rng.random() < 0.5 else {})}
        return "POST", "/v1/search", json.dumps(body).encode(), "search"
    if record_ids and rng.random() < 0.6:
        return "GET", f"/v1/records/{rng.choice(record_ids)}", None, "records"
    return "GET", "/v1/records?limit=10", None, "records"


async def _generate(server: Server, seconds: float, rate: float, texts: list[str], record_ids: list[int], load: Load) -> None:
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    token = server.tokens["read"]
    queue: asyncio.Queue[tuple[float, tuple[str, str, bytes | None, str]]] = asyncio.Queue()
    rng = random.Random(7)
    t0 = time.perf_counter()
    stop_at = t0 + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                due, (method, path, body, kind) = await queue.get()
                start = time.perf_counter()
                load.late_ms.append((start - due) * 1000)
                head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                if body is not None:
                    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                writer.write(head.encode() + b"\r\n" + (body or b""))
                try:
                    status, answer = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
                    load.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                end = time.perf_counter()
                if status == 200 and answer:
                    load.done.append((end - t0, (end - start) * 1000, kind))
                else:
                    load.errors.append(f"{kind} {path}: {status} {answer[:200]!r}")
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    n = 0
    while True:
        due = t0 + n / rate
        if due >= stop_at:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, _requests(rng, texts, record_ids)))
        n += 1
    load.scheduled = n
    # What never left the queue is counted and dropped; the requests in flight get a few seconds to answer.
    load.unsent = queue.qsize()
    while not queue.empty():
        queue.get_nowait()
    await asyncio.sleep(5)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response framed by Content-Length."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def soak(server: Server, seconds: float, rate: float = RATE) -> tuple[Load, list[Sample]]:
    """Run the load for `seconds` while sampling the server process; what the client saw and the samples."""
    import httpx

    from benchmarks.bench_service import survey_texts

    texts = survey_texts(20_000, seed=3)
    hits = httpx.post(f"{server.url}/v1/search", json={"text": "bank", "k": 20}, headers=server.headers("read"), timeout=60)
    record_ids = [int(h["record_id"]) for h in hits.json().get("hits", [])]
    pid = server.proc.pid
    samples: list[Sample] = []
    load = Load()
    t0 = time.perf_counter()
    done = False

    async def watch() -> None:
        while not done:
            samples.append(sample(pid, time.perf_counter() - t0))
            await asyncio.sleep(min(5.0, max(1.0, seconds / 40)))

    async def main() -> None:
        nonlocal done
        watcher = asyncio.create_task(watch())
        await _generate(server, seconds, rate, texts, record_ids, load)
        done = True
        await watcher
        samples.append(sample(pid, time.perf_counter() - t0))

    asyncio.run(main())
    return load, samples


def run(quick: bool = False) -> list[Check]:
    """Four checks: no errors, the rate reached, RSS flat after warm-up, no growth in open files or threads."""
    seconds = soak_seconds(quick)
    t0 = time.perf_counter()
    with served() as server:
        load, samples = soak(server, seconds)
        tracebacks = server.output().count("Traceback")
    wall = time.perf_counter() - t0
    window = 60.0 if seconds >= 120 else max(5.0, seconds / 2)
    minutes = []
    for w in range(int(seconds // window + (seconds % window > 1))):
        lat = [ms for t, ms, _ in load.done if w * window <= t < (w + 1) * window]
        if lat:
            minutes.append(f"{_pct(lat, 0.5):.0f}/{_pct(lat, 0.99):.0f}")
    by_kind = {k: [ms for _, ms, kind in load.done if kind == k] for k in ("classify", "resolve", "search", "records")}
    kinds = ", ".join(f"{k} {_pct(v, 0.5):.0f}/{_pct(v, 0.99):.0f}" for k, v in by_kind.items() if v)
    achieved = sum(t <= seconds for t, _, _ in load.done) / seconds  # answers within the scheduled window only
    warm = max(10.0, seconds / 5)
    after = [s for s in samples if s.t >= warm] or samples[-1:]
    base = after[0]
    growth = (max(s.rss_mb for s in after) - base.rss_mb) / base.rss_mb
    fd_growth = after[-1].fds - base.fds
    thread_growth = after[-1].threads - base.threads
    errors = len(load.errors) + tracebacks
    label = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
    first_error = f"; first: {load.errors[0][:200]}" if load.errors else ""
    return [
        Check(PART, f"mixed traffic for {label} at {RATE:.0f} req/s: no errors", len(load.done) + len(load.errors), errors,
              f"{len(load.done):,} answered, {len(load.errors)} errors, {tracebacks} tracebacks in the server log; p50/p99 ms per "
              f"{window:.0f} s: {' · '.join(minutes)}; by kind {kinds}{first_error}", wall),
        Check(PART, f"achieved rate (target {RATE:.0f} req/s, server and client on 2 shared cores)", load.scheduled,
              0 if achieved >= 0.95 * RATE else 1,
              f"{achieved:.0f} req/s answered of {load.scheduled / seconds:.0f} scheduled; {load.unsent:,} never sent (queued at the end); "
              f"wait for a free connection p50/p99 {_pct(load.late_ms, 0.5):.0f}/{_pct(load.late_ms, 0.99):.0f} ms", 0.0),
        Check(PART, "server RSS flat within 5% after warm-up", len(after), 0 if growth <= 0.05 else 1,
              f"RSS {base.rss_mb:,.0f} MB at {base.t:.0f} s (warm-up end), max {max(s.rss_mb for s in after):,.0f}, "
              f"end {after[-1].rss_mb:,.0f} MB: {100 * growth:+.1f}%; {len(samples)} samples", 0.0),
        Check(PART, "no growth in open files or threads", len(after), int(fd_growth > 0) + int(thread_growth > 0),
              f"open files {base.fds} → {after[-1].fds} (max {max(s.fds for s in after)}), threads {base.threads} → "
              f"{after[-1].threads} (max {max(s.threads for s in after)})", 0.0),
    ]


__all__ = ["Load", "Sample", "run", "sample", "soak"]

if __name__ == "__main__":
    for check in run(quick="--quick" in sys.argv):
        print(json.dumps(check.to_dict()))
