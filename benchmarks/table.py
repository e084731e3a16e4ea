"""One row of the benchmark table: a measure, its reference measured in the same run, the ratio, the target."""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass


@dataclass
class Row:
    """A measure and its reference; `ratio` is what is compared across runs on a noisy, shared machine."""

    name: str  # e.g. "unique short texts, minilm: autocode code vs raw encode"
    value: float  # the measure (units in `unit`)
    unit: str  # "texts/s", "ms", "MiB", "x"
    reference: float | None = None  # the reference measured in the same run (same unit), if any
    ratio: float | None = None  # value / reference, oriented so that higher is better
    target: str = ""  # e.g. ">= 0.9", "<= 2 ms"
    met: bool | None = None  # whether the target is met (None: no target)
    detail: str = ""  # sizes, settings, what was chosen

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
