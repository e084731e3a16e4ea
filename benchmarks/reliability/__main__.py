"""`python -m benchmarks.reliability [--quick] [--only crash,saves,...] [--json FILE]`: every reliability check, one table.

Each part is a module of this package with `run(quick: bool) -> list[Check]`; a part that raises is reported as
one failed check with its error, and the other parts still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
import traceback
from pathlib import Path

from benchmarks.reliability.common import Check, print_table

PARTS = {"crash": "crash loops", "saves": "saves", "hostile": "hostile files", "fuzz": "fuzzing", "soak": "soak",
         "security": "security"}


def main(argv: list[str] | None = None) -> int:
    """Run the parts asked for, print the table; exit 1 when any check failed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the small versions the test suite runs")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of: {', '.join(PARTS)}")
    ap.add_argument("--json", type=Path, help="also write the checks as JSON here")
    args = ap.parse_args(argv)
    checks: list[Check] = []
    t0 = time.time()
    for part in [p.strip() for p in args.only.split(",") if p.strip()]:
        if part not in PARTS:
            ap.error(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        start = time.time()
        try:
            module = importlib.import_module(f"benchmarks.reliability.{part}")
            got = module.run(quick=args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken part is a failed row, not a lost table
            traceback.print_exc()
            got = [Check(PARTS[part], "the part itself", 1, 1, f"raised {type(exc).__name__}: {exc}",
                         time.time() - start)]
        checks.extend(got)
        print(f"[{part}] {len(got)} checks in {time.time() - start:.0f} s", flush=True)
    print()
    print_table(checks)
    print(f"\n{sum(c.passed for c in checks)} of {len(checks)} checks passed in {time.time() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([c.to_dict() for c in checks], indent=2), encoding="utf-8")
    return 0 if all(c.passed for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
