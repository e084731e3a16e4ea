"""What an employer row's confidence means, and when the row is auto-coded.

The resolver's raw confidence for a row (the lowest of its match probability and its sector and country
confidences) is mapped through an isotonic calibrator fitted, per kind of row ("match" or "inferred"), on
`data/employers/confidence.csv`: one line per query of the held-out "calibrate" part of the employer benchmark
(`python -m benchmarks.employers --confidence` writes it), with its raw confidence, whether its ISIC section and
country were both right, and its group (known employers, unseen companies, unseen organisations). So
`C_confidence` reads as the probability that the sector and country are right, on records the gazetteer never
held. A row is auto-coded only when that probability reaches the cut the review threshold's guaranteed rule
(thresholds.choose_threshold) gives on all the table's rows of its kind, and never below the target. The table's
mixture (about as many unseen employers as known ones) is harder than most surveys, where known names dominate;
the rule cannot hold for every group alone: an unseen organisation that shares its exact name with a shipped one
("Providence Hospital" of another city) reads as a sure match. The benchmark reports each group's auto-coded rows.
A kind with no cut that qualifies auto-codes nothing.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from autocode.classifiers.calibration import Calibrator
from autocode.classifiers.thresholds import NO_AUTO_CODING, ThresholdChoice, choose_threshold

__all__ = ["CONFIDENCE_TABLE", "KINDS", "RowConfidence", "load_table"]

KINDS = ("match", "inferred")
CONFIDENCE_TABLE = "confidence.csv"
_COLUMNS = ("kind", "group", "raw", "right")


@dataclass(frozen=True)
class RowConfidence:
    """Per kind of row: the calibrator from raw confidence to P(sector and country right), and the auto-coding cut."""

    calibrators: Mapping[str, Calibrator]
    cuts: Mapping[str, float]
    choices: Mapping[str, Mapping[str, ThresholdChoice]]  # kind -> "all" and each group -> the rule's answer
    target: float

    @classmethod
    def fit(cls, table: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], target: float) -> RowConfidence:
        """Fit from kind -> (raw, right, group) arrays."""
        calibrators: dict[str, Calibrator] = {}
        cuts: dict[str, float] = {}
        choices: dict[str, dict[str, ThresholdChoice]] = {}
        for kind in KINDS:
            raw, right, group = table.get(kind, (np.zeros(0), np.zeros(0), np.zeros(0, dtype=str)))
            if raw.size == 0:
                calibrators[kind], cuts[kind], choices[kind] = Calibrator.identity(), NO_AUTO_CODING, {}
                continue
            calibrators[kind] = Calibrator.fit(raw, right)
            calibrated = calibrators[kind](raw)
            choices[kind] = {"all": choose_threshold(calibrated, right, target)}
            # Each group's own cut, for reports only (see the module docstring).
            choices[kind].update({g: choose_threshold(calibrated[group == g], right[group == g], target)
                                  for g in sorted(set(group.tolist()))})
            # The floor at the target itself: a row never reads below the target and is auto-coded.
            cuts[kind] = max(target, choices[kind]["all"]["threshold"])
        return cls(calibrators, cuts, choices, target)

    def confidence(self, kind: str, raw: float) -> float:
        """The calibrated confidence of one row of `kind` ("match" or "inferred")."""
        # Not rounded: the cut is one of these values, and a rounded 0.9539 would fall below a cut of 0.95394.
        return float(self.calibrators[kind](np.asarray([raw]))[0])

    def auto(self, kind: str, confidence: float) -> bool:
        """Whether a row of `kind` with this calibrated confidence is auto-coded."""
        return confidence >= self.cuts[kind]


def load_table(path: Path | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read a confidence table (default: the shipped one) into kind -> (raw, right, group); a bad line names itself."""
    source = path or Path(str(files("autocode.data") / "employers" / CONFIDENCE_TABLE))
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the employer confidence table is missing; "
                                "`python -m benchmarks.employers --confidence` writes it")
    rows: dict[str, list[tuple[float, float, str]]] = {k: [] for k in KINDS}
    with source.open(encoding="utf-8", newline="") as handle:
        lines = (line for line in handle if line.strip() and not line.lstrip().startswith("#"))
        reader = csv.DictReader(lines)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; expected {', '.join(_COLUMNS)}")
        for n, row in enumerate(reader, start=1):
            kind = row["kind"]
            if kind not in rows:
                raise ValueError(f"{source}: row {n}, field 'kind': {kind!r} is not one of {', '.join(KINDS)}")
            try:
                raw, right = float(row["raw"]), float(row["right"])
            except ValueError:
                raise ValueError(f"{source}: row {n}: 'raw' and 'right' must be numbers, got {row['raw']!r}, "
                                 f"{row['right']!r}") from None
            if not (0.0 <= raw <= 1.0 and right in (0.0, 1.0)):
                raise ValueError(f"{source}: row {n}: 'raw' must be in [0, 1] and 'right' 0 or 1")
            rows[kind].append((raw, right, row["group"]))
    return {k: (np.asarray([r[0] for r in v]), np.asarray([r[1] for r in v]), np.asarray([r[2] for r in v], dtype=str))
            for k, v in rows.items()}


@functools.cache
def shipped(target: float) -> RowConfidence:
    """The shipped table's calibration at `target` (read once per process)."""
    return RowConfidence.fit(load_table(), target)
