"""The review simulation on the shipped Banking77 cut (4 intents, 80 answers), with the real model and Cascade."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from autocode.embeddings import Encoder
from benchmarks.review_simulation import TARGET, intent_codebook, milestone, simulate

DATA = Path(__file__).resolve().parent / "data" / "banking77"


def test_reviewing_codes_the_file_and_beats_coding_by_hand(minilm: Encoder) -> None:
    test, train = pd.read_csv(DATA / "test.csv"), pd.read_csv(DATA / "train.csv")
    intents = sorted(test["category"].unique())[:4]
    file = test[test["category"].isin(intents)].reset_index(drop=True)
    seeds = train[train["category"].isin(intents)].groupby("category").sample(2, random_state=0)
    points = simulate(file, seeds, intent_codebook(intents), minilm, "queue", 10, random.Random(0))
    assert [p.decisions for p in points] == list(range(0, 10 * len(points), 10))
    last = points[-1]
    # It stops at 80% coded at the target, or when nothing is left to review.
    assert (last.coded >= 0.8 and last.auto_accuracy >= TARGET) or last.coded == 1.0
    reached = milestone(points, 0.8)
    assert reached is not None and reached < len(file)
