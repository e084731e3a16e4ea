"""The shipped sample, coded with the built-in codebook alone: what is auto-coded is right, the rest goes to review."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.embeddings import Encoder

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"


def test_support_sample_is_coded_sensibly_or_sent_to_review(minilm: Encoder) -> None:
    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    cascade = Cascade(minilm, load_codebook("employer-support")).fit([], [])
    predictions = cascade.predict(frame["support"].tolist())
    auto = [(p, gold) for p, gold in zip(predictions, frame["support_gold"], strict=True) if not p.needs_review]
    assert len(auto) >= 8  # it does code the plain answers
    for p, gold in auto:
        # An auto-coded answer's codes must all be among the hand-assigned ones.
        assert gold and set(p.codes) <= set(gold.split("|")), (p, gold)
    by_text = dict(zip(frame["support"], predictions, strict=True))
    for text in ["-", "N/A", "n/a I run my own business"]:
        assert by_text[text].needs_review, text
    assert all(p.codes for p in predictions)  # a reviewer always starts from a best guess
