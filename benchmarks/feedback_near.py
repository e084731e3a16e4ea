"""How alike must two wordings be before one's correction may decide the other? Banking77, MiniLM, a table.

    python -m benchmarks.feedback_near
    python -m benchmarks.feedback_near --thresholds 0.8 0.85 0.9 0.95 0.97

For every pair of distinct texts in train.csv + test.csv (13,083 texts, ~85.6M pairs) it counts the
pairs whose cosine similarity (all-MiniLM-L6-v2) is at or above each threshold t, and how many of
them share their intent. Texts with the same normalised key are collapsed first: an exact repeat is
the exact-match path's business, not the neighbour's. A second table asks the question FeedbackMemory
asks: for each test text, is the label of its single nearest train text (taken as a correction) right,
among test texts whose nearest train text is at or above t? Pair counts grow with the square of a
cluster's size, so dense, easy intents weigh most in the first table; the second weighs each decision
once. FeedbackMemory's `near` is the lowest t at which both reach --target (0.97).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from autocode.classifiers.normalise import normalise_key
from autocode.embeddings import get_encoder

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "banking77"
THRESHOLDS = (0.85, 0.9, 0.95, 0.97)
_BLOCK = 1024


def dedupe(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], np.ndarray, int]:
    """One text per normalised key (the first), its label, and how many keys carried two labels."""
    first: dict[str, int] = {}
    conflicts = 0
    for i, text in enumerate(texts):
        key = normalise_key(text)
        if key in first:
            conflicts += labels[first[key]] != labels[i]
        else:
            first[key] = i
    keep = list(first.values())
    return [texts[i] for i in keep], np.asarray([labels[i] for i in keep]), conflicts


def pair_agreement(x: np.ndarray, y: np.ndarray, thresholds: Sequence[float]) -> list[tuple[int, int]]:
    """(pairs at or above t, of them same-label) for each t, over each unordered pair once."""
    codes = np.unique(y, return_inverse=True)[1]
    lowest = min(thresholds)
    counts = [[0, 0] for _ in thresholds]
    for start in range(0, len(x), _BLOCK):
        sims = x[start : start + _BLOCK] @ x.T
        rows = np.arange(start, min(start + _BLOCK, len(x)))
        # The strict upper triangle: each pair once, never a text with itself.
        sims[np.arange(len(rows))[:, None] >= (np.arange(len(x))[None, :] - start)] = -1.0
        i, j = np.nonzero(sims >= lowest)
        s = sims[i, j]
        same = codes[rows[i]] == codes[j]
        for n, t in enumerate(thresholds):
            hit = s >= t
            counts[n][0] += int(hit.sum())
            counts[n][1] += int(same[hit].sum())
    return [(a, b) for a, b in counts]


def nearest_agreement(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, thresholds: Sequence[float]
) -> list[tuple[int, int]]:
    """(test texts whose nearest train text is at or above t, of them with that text's label) for each t."""
    sims = x_test @ x_train.T
    best = sims.argmax(axis=1)
    score = sims[np.arange(len(x_test)), best]
    right = y_train[best] == y_test
    return [(int((score >= t).sum()), int(right[score >= t].sum())) for t in thresholds]


def choose(rows: Sequence[tuple[float, int, int]], target: float) -> float | None:
    """The lowest threshold whose agreement reaches the target (None if none does)."""
    for t, n, same in sorted(rows):
        if n and same / n >= target:
            return t
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: embed Banking77, print both tables and the chosen threshold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding train.csv and test.csv")
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    parser.add_argument("--target", type=float, default=0.97, help="agreement the chosen threshold must reach")
    args = parser.parse_args(argv)
    thresholds = sorted(args.thresholds)
    train, test = pd.read_csv(args.data / "train.csv"), pd.read_csv(args.data / "test.csv")
    encoder = get_encoder("minilm")
    start = time.perf_counter()
    texts, labels, conflicts = dedupe(train.text.tolist() + test.text.tolist(), train.category.tolist() + test.category.tolist())
    x = encoder.encode(texts)
    print(
        f"banking77: {len(train) + len(test)} texts, {len(texts)} distinct after normalise_key "
        f"({conflicts} repeats with another label); encoder {encoder.name}; {time.perf_counter() - start:.1f}s to embed\n"
    )
    pairs = pair_agreement(x, labels, thresholds)
    print("All pairs of distinct texts (train + test):\n")
    print("| cosine >= t | pairs | same intent | agreement |")
    print("|---|---|---|---|")
    for t, (n, same) in zip(thresholds, pairs, strict=True):
        print(f"| {t:.2f} | {n:,} | {same:,} | {same / n if n else float('nan'):.4f} |")
    nearest = nearest_agreement(
        encoder.encode(train.text.tolist()), train.category.to_numpy(), encoder.encode(test.text.tolist()), test.category.to_numpy(), thresholds
    )
    print(f"\nEach test text's nearest train text as its correction ({len(test)} test texts):\n")
    print("| cosine >= t | test texts reached | label right | agreement |")
    print("|---|---|---|---|")
    for t, (n, same) in zip(thresholds, nearest, strict=True):
        print(f"| {t:.2f} | {n:,} ({n / len(test):.1%}) | {same:,} | {same / n if n else float('nan'):.4f} |")
    by_pairs = choose([(t, n, s) for t, (n, s) in zip(thresholds, pairs, strict=True)], args.target)
    both = choose([(t, *min(p, q, key=lambda c: c[1] / c[0] if c[0] else 0.0))
                   for t, p, q in zip(thresholds, pairs, nearest, strict=True)], args.target)
    print(f"\nlowest t with agreement >= {args.target}: {by_pairs} by pairs alone; {both} by pairs and nearest correction both")


if __name__ == "__main__":
    main()
