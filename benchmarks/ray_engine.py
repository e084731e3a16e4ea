"""The same survey column coded by the local engine and by Ray with 1 and 2 workers, on this machine.

    flock /tmp/heavy.lock .venv/bin/python -m benchmarks.ray_engine                 # 200k rows
    .venv/bin/python -m benchmarks.ray_engine --rows 50000                          # quicker

The column: `--rows` answers drawn (Zipf weights) from `--distinct` distinct answers, built from the shipped
sample's support answers and the Banking77 test answers in tests/data, each varied by a number so the distinct count
is what it says. Each engine runs as a user runs it (`autocode code ... --codebook employer-support`, a fresh process,
a fresh AUTOCODE_HOME) and is timed end to end, model loads and Ray's start included. The rows/s model for N workers
rests on measured parts only:

    serial S   the driver's work, timed alone in this process: read, distinct (planning the calls), join (each row's
               decision looked up, its chunk's output columns and part file) and write (the final table)
    start-up U a Ray run of the 50-row sample with 1 worker, end to end (process, Ray, actor, model load)
    decide D   the 1-worker Ray run less S and U: one worker's time for the distinct answers (rate = distinct / D)
    time(N) = S + U + D / N
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
AUTOCODE = Path(sys.executable).with_name("autocode")


def build(path: Path, rows: int, distinct: int, seed: int = 0) -> None:
    """`rows` answers over `distinct` distinct ones, as a CSV."""
    rng = random.Random(seed)
    base = (pd.read_csv(ROOT / "data" / "samples" / "survey_sample.csv", dtype=str, keep_default_na=False)["support"].tolist()
            + pd.read_csv(ROOT / "tests" / "data" / "banking77" / "test.csv")["text"].astype(str).tolist())
    base = [b for b in base if b.strip()]
    answers = [f"{base[i % len(base)]} {i // len(base)}" if i >= len(base) else base[i] for i in range(distinct)]
    weights = [1 / (r + 1) for r in range(distinct)]
    column = answers + rng.choices(answers, weights=weights, k=rows - distinct)
    rng.shuffle(column)
    pd.DataFrame({"id": range(rows), "support": column}).to_csv(path, index=False)


def timed(args: list[str], home: Path) -> float:
    """Seconds for one `autocode` command in a fresh process."""
    began = time.perf_counter()
    run = subprocess.run([str(AUTOCODE), *args], env={**os.environ, "AUTOCODE_HOME": str(home)}, capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-2000:])
    return time.perf_counter() - began


def timed_ray(args: list[str], home: Path) -> tuple[float, float]:
    """(seconds in all, seconds until the decisions were back) for one `autocode ... --engine ray` in a fresh process."""
    began = time.perf_counter()
    decided = math.nan
    with subprocess.Popen([str(AUTOCODE), *args], env={**os.environ, "AUTOCODE_HOME": str(home)}, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as run:
        assert run.stderr is not None
        tail = []
        for line in run.stderr:  # the CLI says when Ray's decisions are back; the runner writes after that
            if "distinct answers decided" in line:
                decided = time.perf_counter() - began
            tail = [*tail[-40:], line]
    if run.returncode != 0:
        raise RuntimeError("".join(tail))
    return time.perf_counter() - began, decided


def serial_parts(data: Path, out: Path) -> dict[str, float]:
    """Seconds of each driver part of a Ray run, with decisions looked up instead of made: read, distinct, join, write."""
    import autocode.service.batch.runner as runner
    from autocode.service.tables.readers import open_reader

    began = time.perf_counter()
    with open_reader(data, "support") as reader:
        cells = sum(len(chunk.cells) for chunk in reader.chunks())
    read = time.perf_counter() - began
    began = time.perf_counter()
    calls = runner.plan_calls(data, "support")
    plan = time.perf_counter() - began
    assert cells > 0 and sum(len(c) for c in calls) > 0
    row = dict.fromkeys(runner.PREDICTION_FIELDS) | {"code": "x", "label": "x", "confidence": 0.5, "method": "m",
                                                     "needs_review": True, "evidence": "[]"}
    final = runner.write_parts
    wrote = []

    def write_parts(*args: Any, **kwargs: Any) -> None:  # the runner's last step, timed apart from the chunks
        began = time.perf_counter()
        final(*args, **kwargs)
        wrote.append(time.perf_counter() - began)

    runner.write_parts = write_parts  # type: ignore[assignment]  # this process only, for this measurement
    try:
        began = time.perf_counter()
        runner.run_batch(data, "support", lambda texts: [row] * len(texts), out, job_key="ray-bench-serial", progress=False)
        batch = time.perf_counter() - began
    finally:
        runner.write_parts = final
    # The runner reads the input again: its join is what is left after that read and the final write.
    return {"read": read, "distinct": plan - read, "join": batch - read - wrote[0], "write": wrote[0]}


def main() -> None:
    """Run the three engines, print the table and the model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "survey.csv"
        build(data, args.rows, args.distinct)
        common = ["code", str(data), "-c", "support", "--codebook", "employer-support", "--show", "0"]
        runs, decided = {}, {}
        for name, extra in (("local", []), ("ray, 1 worker", ["--engine", "ray", "--workers", "1"]),
                            ("ray, 2 workers", ["--engine", "ray", "--workers", "2"])):
            out = Path(tmp) / f"{name.replace(' ', '_').replace(',', '')}.csv"
            home = Path(tmp) / f"home-{len(runs)}"
            if extra:
                runs[name], decided[name] = timed_ray([*common, "-o", str(out), *extra], home)
            else:
                runs[name] = timed([*common, "-o", str(out)], home)
        same = (Path(tmp) / "local.csv").read_bytes() == (Path(tmp) / "ray_1_worker.csv").read_bytes() \
            == (Path(tmp) / "ray_2_workers.csv").read_bytes()
        startup, _ = timed_ray(["code", str(ROOT / "data" / "samples" / "survey_sample.csv"), "-c", "support", "--codebook",
                                "employer-support", "--show", "0", "-o", str(Path(tmp) / "tiny.csv"), "--engine", "ray",
                                "--workers", "1"], Path(tmp) / "home-tiny")
        os.environ["AUTOCODE_HOME"] = str(Path(tmp) / "home-serial")  # the runner's work folder: not the user's home
        parts = serial_parts(data, Path(tmp) / "serial.csv")
    report(args.rows, args.distinct, same, runs, decided, startup, parts)


def report(rows: int, distinct: int, same: bool, runs: dict[str, float], decided: dict[str, float], startup: float,
           parts: dict[str, float]) -> None:
    """Print the measured table, the serial parts, and the model built from them."""
    print(f"{rows:,} rows, {distinct:,} distinct answers; outputs identical: {same}")
    print("| engine | seconds | rows/s | decisions back after |")
    print("|---|---|---|---|")
    for name, seconds in runs.items():
        back = f"{decided[name]:.1f} s" if name in decided else "-"
        print(f"| {name} | {seconds:.1f} | {rows / seconds:,.0f} | {back} |")
    serial = sum(parts.values())
    print("\nserial driver parts, measured alone: " + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items())
          + f" (S = {serial:.1f} s)")
    decide = runs["ray, 1 worker"] - serial - startup
    print(f"start-up U (50-row sample, 1 worker, end to end): {startup:.1f} s")
    print(f"decide D = 1-worker run - S - U = {decide:.1f} s: one worker decides {distinct / decide:,.0f} distinct answers/s")
    predicted = serial + startup + decide / 2
    print(f"model check on this 2-core machine, 2 workers: predicted {predicted:.1f} s, measured {runs['ray, 2 workers']:.1f} s")
    print("model time(N) = S + U + D / N, for a host with a core per worker and U as measured here (not run beyond 2):")
    for n in (1, 2, 4, 8, 16, 32):
        t = serial + startup + decide / n
        print(f"  N={n}: {t:.1f} s, {rows / t:,.0f} rows/s")
    print(f"  bound as N grows: {rows / (serial + startup):,.0f} rows/s (S + U = {serial + startup:.1f} s)")


if __name__ == "__main__":
    main()
