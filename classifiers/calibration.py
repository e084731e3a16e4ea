"""The isotonic calibrator: a raw score in, the probability that the decision is right out.

Plain numpy state (no pickles), so a saved model reads back under any scikit-learn version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Fewer out-of-fold rows than this cannot calibrate anything: the model says it is uncalibrated.
MIN_CALIBRATION_ROWS = 10


@dataclass
class Calibrator:
    """A monotone map from a raw score to the probability of being right (isotonic, Laplace-smoothed)."""

    x: np.ndarray
    y: np.ndarray
    fitted: bool = True

    @classmethod
    def fit(cls, scores: np.ndarray, correct: np.ndarray) -> Calibrator:
        """Fit on out-of-fold scores and whether each decision was right."""
        scores = np.asarray(scores, dtype=np.float64)
        correct = np.asarray(correct, dtype=np.float64)
        if scores.size < 2 or np.ptp(scores) == 0:
            rate = (correct.sum() + 1) / (correct.size + 2)
            return cls(np.array([0.0, 1.0]), np.array([rate, rate]))
        # Imported here, not at the top: sklearn costs ~1.5 s of every process's start.
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, correct)
        fitted = iso.predict(scores)
        xs, ys = [], []
        # Each isotonic block gets (right + 1) / (n + 2): a block of 12 all-correct items says 0.93, not 1.0.
        for value in np.unique(fitted):
            block = fitted == value
            xs.append(float(scores[block].min()))
            ys.append((correct[block].sum() + 1) / (block.sum() + 2))
            xs.append(float(scores[block].max()))
            ys.append(ys[-1])
        x = np.asarray(xs)
        y = np.maximum.accumulate(np.asarray(ys))
        return cls(x, y)

    @classmethod
    def identity(cls) -> Calibrator:
        """No calibration: the raw score is the confidence (used when there is no labelled data)."""
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]), fitted=False)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores (clipped to the fitted range)."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"x": [float(v) for v in self.x], "y": [float(v) for v in self.y], "fitted": self.fitted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild from to_dict()."""
        return cls(np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64), bool(data.get("fitted", True)))
