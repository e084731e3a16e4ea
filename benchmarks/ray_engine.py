"""The same survey column coded by the local engine and by Ray with 1 and 2 workers, on this machine.

    flock /tmp/heavy.lock .venv/bin/python -m benchmarks.ray_engine                 # 200k rows
    .venv/bin/python -m benchmarks.ray_engine --rows 50000                          # quicker

The column: `--rows` answers drawn (Zipf weights) from `--distinct` distinct answers, built from the shipped
sample's support answers and the Banking77 test answers in tests/data, each varied by a number so the distinct count
is what it says. Each engine runs as a user runs it (`autocode code ... --codebook employer-support`, a fresh process,
a fresh AUTOCODE_HOME) and is timed end to end, model loads and Ray's start included. The serial parts of the Ray
run (planning the calls = reading + distinct, and writing every row from the decisions) are timed on their own, in
this process, so the model below rests on measured parts only:

    time(N workers) = serial + startup + decide / N     (decide = the 1-worker run's deciding time)
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def serial_parts(data: Path, out: Path) -> tuple[float, float]:
    """(plan seconds, write seconds): the Ray run's driver work, with decisions looked up instead of made."""
    from autocode.service.batch.runner import PREDICTION_FIELDS, plan_calls, run_batch

    began = time.perf_counter()
    calls = plan_calls(data, "support")
    plan = time.perf_counter() - began
    row = dict.fromkeys(PREDICTION_FIELDS) | {"code": "x", "label": "x", "confidence": 0.5, "method": "m",
                                                        "needs_review": True, "evidence": "[]"}
    assert sum(len(c) for c in calls) > 0
    began = time.perf_counter()
    run_batch(data, "support", lambda texts: [row] * len(texts), out, job_key="ray-bench-serial", progress=False)
    return plan, time.perf_counter() - began


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
        runs = {}
        for name, extra in (("local", []), ("ray, 1 worker", ["--engine", "ray", "--workers", "1"]),
                            ("ray, 2 workers", ["--engine", "ray", "--workers", "2"])):
            out = Path(tmp) / f"{name.replace(' ', '_').replace(',', '')}.csv"
            runs[name] = timed([*common, "-o", str(out), *extra], Path(tmp) / f"home-{len(runs)}")
        same = (Path(tmp) / "local.csv").read_bytes() == (Path(tmp) / "ray_1_worker.csv").read_bytes() \
            == (Path(tmp) / "ray_2_workers.csv").read_bytes()
        os.environ["AUTOCODE_HOME"] = str(Path(tmp) / "home-serial")  # the runner's work folder: not the user's home
        plan, write = serial_parts(data, Path(tmp) / "serial.csv")
    rows = args.rows
    print(f"{rows:,} rows, {args.distinct:,} distinct answers; outputs identical: {same}")
    print("| engine | seconds | rows/s |")
    print("|---|---|---|")
    for name, seconds in runs.items():
        print(f"| {name} | {seconds:.1f} | {rows / seconds:,.0f} |")
    overhead = (runs["ray, 1 worker"] - runs["local"]) / rows * 1e6
    print(f"\nRay overhead against local, 1 worker: {overhead:.0f} µs per row "
          f"({runs['ray, 1 worker'] - runs['local']:.1f} s in all); 2 workers vs 1: "
          f"{runs['ray, 1 worker'] / runs['ray, 2 workers']:.2f}× on this 2-core machine")
    serial = plan + write
    decide_and_start = runs["ray, 1 worker"] - serial
    print(f"serial driver parts, measured alone: plan (read + distinct) {plan:.1f} s, write {write:.1f} s")
    print("model, from these parts (not measured beyond 2 workers): time(N) = serial + (1-worker run - serial) / N")
    for n in (1, 2, 4, 8, 16):
        t = serial + decide_and_start / n
        print(f"  N={n}: {t:.1f} s, {rows / t:,.0f} rows/s (upper bound {rows / serial:,.0f} rows/s as N grows)")


if __name__ == "__main__":
    main()
