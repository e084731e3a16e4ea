"""Which reference records the shipped gazetteer keeps, and which it leaves out to calibrate and test on.

One rule, used by `scripts/build_gazetteer.py` (leaves the held-out records out), by the calibration of the
resolver's confidence, and by `benchmarks/employers.py` (measures on records nobody fitted on). The split is a
hash of the source and the source's own identifier, so every build, on every machine, splits the same way.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Part = Literal["gazetteer", "calibrate", "test"]

# Sources whose records are split: the rest (universities, airlines) ship whole.
SPLIT_SOURCES = frozenset({"companies", "organisations"})


def part_of(source: str, key: str) -> Part:
    """The part a record belongs to: 80% gazetteer, 10% calibrate, 10% test, by a stable hash of (source, key)."""
    if source not in SPLIT_SOURCES:
        return "gazetteer"
    bucket = int.from_bytes(hashlib.blake2b(f"{source}\x1f{key}".encode(), digest_size=4).digest(), "big") % 10
    return "calibrate" if bucket == 0 else "test" if bucket == 1 else "gazetteer"
