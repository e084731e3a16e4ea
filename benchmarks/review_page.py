"""How responsive the review page's API is on a big file, over loopback against a real `autocode review`.

    .venv/bin/python -m benchmarks.review_page                     # 100k rows, 20k distinct answers, 40 decisions
    .venv/bin/python -m benchmarks.review_page --rows 20000 --distinct 4000 --decisions 20

The file: `--rows` rows of a `support` column coded by `autocode code`'s layout, every row flagged for review, built
from `--distinct` distinct answers (Banking77 test answers in tests/data, each varied by a number and a word so no
two are the same text; row counts follow a Zipf law, as survey answers do). `autocode review` opens it with the
`employer-support` codebook in a fresh AUTOCODE_HOME; the client then, `--decisions` times, asks for the next item
(GET /next, the call the page makes to show it), and decides it (POST decision: the page's keystroke; its answer
carries the following item). Prints the time until the page answers, and p50/p95/max of each call in ms.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "data" / "banking77" / "test.csv"
WORDS = ["today", "again", "please", "now", "thanks", "urgent", "still", "help", "asap", "why"]


def build(path: Path, rows: int, distinct: int, seed: int = 0) -> None:
    """A coded CSV of `rows` rows over `distinct` distinct answers, all sent to review."""
    rng = random.Random(seed)
    base = pd.read_csv(SOURCE)["text"].astype(str).tolist()
    answers = [f"{base[i % len(base)]} {WORDS[(i // len(base)) % len(WORDS)]} {i}" for i in range(distinct)]
    weights = [1 / (rank + 1) for rank in range(distinct)]
    chosen = answers + rng.choices(answers, weights=weights, k=rows - distinct)  # every answer at least once
    rng.shuffle(chosen)
    pd.DataFrame({"respondent_id": range(rows), "support": chosen, "support_code": "other_support",
                  "support_label": "Other support", "support_confidence": [round(rng.random(), 4) for _ in chosen],
                  "support_method": "zero-shot", "support_needs_review": True, "support_evidence": "[]"}
                 ).to_csv(path, index=False)


def percentiles(values: list[float]) -> str:
    """p50 / p95 / max in ms."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:.0f} / {p95 * 1000:.0f} / {ordered[-1] * 1000:.0f}"


def main() -> None:
    """Build the file, start the page, time the calls."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--decisions", type=int, default=40)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        coded = Path(tmp) / "coded.csv"
        build(coded, args.rows, args.distinct)
        env = {**os.environ, "AUTOCODE_HOME": str(Path(tmp) / "home")}
        began = time.perf_counter()
        proc = subprocess.Popen([str(Path(sys.executable).with_name("autocode")), "review", str(coded), "-c", "support",
                                 "--codebook", "employer-support", "--port", str(args.port)], env=env,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        try:
            session = ""
            assert proc.stderr is not None
            for line in proc.stderr:
                found = re.search(r"session=([0-9a-f]{16})", line)
                if found:
                    session = found.group(1)
                    break
            base = f"http://127.0.0.1:{args.port}"
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            first = httpx.get(f"{base}/v1/review/sessions/{session}/next", timeout=120)
            ready = time.perf_counter() - began
            counts = first.json()["counts"]
            nexts, decisions = [], []
            with httpx.Client(base_url=f"{base}/v1/review/sessions/{session}", timeout=120) as client:
                for i in range(args.decisions):
                    t = time.perf_counter()
                    item = client.get("/next").json()["item"]
                    nexts.append(time.perf_counter() - t)
                    action = {"action": "accept"} if i % 4 else {"action": "choose", "codes": ["fees_full"]}
                    t = time.perf_counter()
                    answer = client.post(f"/items/{item['item_id']}/decision", json=action)
                    decisions.append(time.perf_counter() - t)
                    answer.raise_for_status()
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"file: {args.rows} rows, {counts['items']} distinct answers in review ({counts['rows']} rows)")
    print(f"page answering with its first item: {ready:.1f} s after `autocode review` started")
    print("| call | p50 / p95 / max (ms) |")
    print("|---|---|")
    print(f"| GET next (show the next item) | {percentiles(nexts)} |")
    print(f"| POST decision (save, learn, re-score near answers, return the next item) | {percentiles(decisions)} |")


if __name__ == "__main__":
    main()
