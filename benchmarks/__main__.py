"""`python -m benchmarks [--quick] [--only coding,search,service,register] [--json FILE]`: every row of the performance table.

Each suite measures its reference in the same run (this machine is shared and noisy: compare ratios, not
absolute times) and returns `benchmarks.table.Row`s; this prints them as one table and saves them as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.table import Row

SUITES = {"coding": "benchmarks.bench_coding", "search": "benchmarks.bench_search", "service": "benchmarks.bench_service",
          "register": "benchmarks.register"}


def fmt(x: float | None, unit: str = "") -> str:
    """A number for the table."""
    if x is None:
        return "-"
    text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return f"{text} {unit}".strip()


def print_table(rows: list[Row]) -> None:
    """The rows as a Markdown table (pastes into the README as is)."""
    print("| measure | value | reference (same run) | ratio | target | met | detail |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        print(f"| {r.name} | {fmt(r.value, r.unit)} | {fmt(r.reference, r.unit)} | {fmt(r.ratio)} | {r.target or '-'} | {met} | {r.detail} |")


def main() -> None:
    """Run the chosen suites and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the CI smoke run)")
    parser.add_argument("--only", default=",".join(SUITES), help="comma-separated suites: " + ", ".join(SUITES))
    parser.add_argument("--json", type=Path, default=Path(".benchmarks") / "table.json")
    args = parser.parse_args()
    rows: list[Row] = []
    started = time.perf_counter()
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        if name not in SUITES:
            parser.error(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += importlib.import_module(SUITES[name]).run(quick=args.quick)
        print(f"{name} took {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick, "machine": platform.platform(),
            "seconds": round(time.perf_counter() - started, 1)}
    args.json.write_text(json.dumps({"meta": meta, "rows": [r.to_dict() for r in rows]}, indent=1), encoding="utf-8")
    print(f"\n{len(rows)} rows in {meta['seconds']}s; saved {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
