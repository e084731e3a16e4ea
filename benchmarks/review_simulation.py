"""Simulated review on Banking77: how many decisions until half and 80% of a file is coded at >= 0.95 accuracy.

    flock /tmp/heavy.lock .venv/bin/python -m benchmarks.review_simulation            # 20 intents, both starts, both orders
    .venv/bin/python -m benchmarks.review_simulation --intents 10 --block 20           # quicker

The file: the Banking77 test answers of the first `--intents` intents in name order (40 each: 800 rows for 20).
A reviewer is simulated from the gold labels. Two starts: zero-shot on the intent names (no labels), or 2
labelled train answers per intent (never in the file). The queue is the file's rows the model leaves in review;
each block of `--block` decisions the reviewer codes the queue's first answers (least confident first; or, the
baseline, in random order). Each decision goes into the FeedbackMemory (the same or a near-identical answer is
then coded by it), and after each block the Cascade is refitted on the start's labels plus every reviewed row
(what `autocode train --continue` does), so its review threshold is the guaranteed one of classifiers/thresholds.py
at target 0.95. After each block: coded share = (reviewed rows + rows the model auto-codes) / N, and the measured
accuracy of the auto-coded rows against gold. A milestone (50%, 80%) is the first block where the coded share
reaches it and the auto-coded rows' accuracy is >= 0.95. Coding every answer by hand costs N decisions.

This runs on classifiers.feedback + classifiers.cascade directly, not on the review queue of service/review
(not committed when this was written); the queue's order here is its least-certain-first toggle.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import Codebook, parse_codebook
from autocode.classifiers.feedback import FeedbackMemory
from autocode.embeddings import Encoder, get_encoder
from autocode.embeddings.durable import atomic_file

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "banking77"
TARGET = 0.95
MILESTONES = (0.5, 0.8)


@dataclass
class Point:
    """The state after some decisions."""

    decisions: int
    coded: float  # (reviewed + auto-coded) / N
    auto_accuracy: float  # of the auto-coded rows, against gold


def intent_codebook(intents: list[str]) -> Codebook:
    """One label per intent, named by its words: all a zero-shot start knows."""
    labels = [{"code": i, "name": i.replace("_", " ")} for i in intents]
    return parse_codebook({"id": "banking77-sim", "name": "Banking77 intents", "version": "1", "labels": labels})


def simulate(file: pd.DataFrame, seeds: pd.DataFrame, book: Codebook, encoder: Encoder, order: str, block: int,
             rng: random.Random) -> list[Point]:
    """Review block by block until 80% is coded at the target or every row is reviewed; the curve."""
    texts, gold = list(file["text"]), list(file["category"])
    n = len(texts)
    reviewed: set[int] = set()
    points: list[Point] = []
    while True:
        train = [*seeds["text"], *(texts[i] for i in sorted(reviewed))]
        labels = [[c] for c in seeds["category"]] + [[gold[i]] for i in sorted(reviewed)]
        cascade = Cascade(encoder, book, target_accuracy=TARGET).fit(train, labels)
        memory = FeedbackMemory(cascade, encoder, book)
        if reviewed:
            memory.add_many((texts[i], [gold[i]], "simulated reviewer") for i in sorted(reviewed))
        rest = [i for i in range(n) if i not in reviewed]
        predictions = dict(zip(rest, memory.predict([texts[i] for i in rest]), strict=True))
        auto = [i for i in rest if not predictions[i].needs_review]
        right = sum(predictions[i].codes[:1] == (gold[i],) for i in auto)
        point = Point(len(reviewed), (len(reviewed) + len(auto)) / n, right / len(auto) if auto else 1.0)
        points.append(point)
        queue = [i for i in rest if predictions[i].needs_review]
        if not queue or (point.coded >= MILESTONES[-1] and point.auto_accuracy >= TARGET):
            return points
        if order == "queue":
            queue.sort(key=lambda i: predictions[i].confidence)
        else:
            rng.shuffle(queue)
        reviewed.update(queue[:block])


def milestone(points: list[Point], share: float) -> int | None:
    """Decisions at the first point coding `share` of the file with auto-coded accuracy >= the target."""
    return next((p.decisions for p in points if p.coded >= share and p.auto_accuracy >= TARGET), None)


def main() -> None:
    """Run every start x order, print the table, save the curve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--intents", type=int, default=20)
    parser.add_argument("--block", type=int, default=20, help="decisions between re-scorings and refits")
    parser.add_argument("--seeds", type=int, default=3, help="random review orders drawn (each its own row)")
    parser.add_argument("--png", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "review_simulation.png")
    args = parser.parse_args()
    test, train = pd.read_csv(args.data / "test.csv"), pd.read_csv(args.data / "train.csv")
    intents = sorted(test["category"].unique())[: args.intents]
    file = test[test["category"].isin(intents)].reset_index(drop=True)
    pool = train[train["category"].isin(intents)]
    book = intent_codebook(intents)
    encoder = get_encoder("minilm")
    encoder.encode([*file["text"], *pool["text"]])  # once, up front
    starts = {"zero-shot": pool.iloc[:0], "2 per intent": pool.groupby("category").sample(2, random_state=0)}
    curves: dict[tuple[str, str], list[Point]] = {}
    rows = []
    for start, seeds in starts.items():
        for order, seed in [("queue", 0), *(("random", s) for s in range(args.seeds))]:
            began = time.perf_counter()
            points = simulate(file, seeds, book, encoder, order, args.block, random.Random(seed))
            curves[(start, order if order == "queue" else f"random {seed}")] = points
            rows.append({"start": start, "order": "least certain first" if order == "queue" else f"random (seed {seed})",
                         **{f"{int(100 * s)}% coded": milestone(points, s) for s in MILESTONES},
                         "by hand": len(file), "first: coded": f"{points[0].coded:.0%} at {points[0].auto_accuracy:.3f}",
                         "seconds": round(time.perf_counter() - began)})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    for col in ("50% coded", "80% coded"):
        table[col] = table[col].map(lambda v: "not reached" if v is None or (isinstance(v, float) and np.isnan(v)) else int(v))
    print(f"\nBanking77 test, {len(intents)} intents, {len(file)} answers; block {args.block}; target {TARGET}")
    print(table.to_string(index=False))
    _plot(curves, len(file), args.png)
    print(f"curve: {args.png}")


def _plot(curves: dict[tuple[str, str], list[Point]], n: int, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for (start, order), points in curves.items():
        line, = ax.plot([p.decisions for p in points], [100 * p.coded for p in points], marker="o", markersize=3,
                        linestyle="-" if order == "queue" else "--", label=f"{start}, {'least certain first' if order == 'queue' else order}")
        # A point whose auto-coded rows miss the target does not count towards a milestone: shown as an x.
        missed = [p for p in points if p.auto_accuracy < TARGET]
        ax.plot([p.decisions for p in missed], [100 * p.coded for p in missed], "x", color=line.get_color(), markersize=8)
    ax.plot([0, n], [0, 100], color="grey", linewidth=1, label="by hand")
    for s in MILESTONES:
        ax.axhline(100 * s, color="lightgrey", linewidth=0.8)
    ax.set_xlabel("review decisions")
    ax.set_ylabel("% of the file coded (reviewed + auto-coded)")
    ax.set_title(f"Simulated review, Banking77 ({n} answers); x: auto-coded accuracy < {TARGET}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(png) as tmp:
        fig.savefig(tmp, dpi=120, format="png")


if __name__ == "__main__":
    main()
