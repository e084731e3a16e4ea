"""Answers that fit no label go to review: the novelty floor set on held-out labels (classifiers/novelty.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import codebook_from_codes
from autocode.classifiers.model import load_model, save_model
from autocode.classifiers.novelty import KNOWN_LOSS_BUDGET, choose_floor, held_out_label_splits, label_groups
from autocode.embeddings import Encoder

BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # the CC BY 4.0 subset in tests/data (SOURCES.md there)
UNKNOWN_INTENTS = ["terminate_account", "exchange_rate", "age_limit"]  # never trained on: their answers fit no label
OFF_TOPIC = [
    "What time does the football match start tonight?",
    "my cat likes tuna",
    "asdf qwer",
    "I commute by bus",  # an answer to another survey question
    "The teachers were friendly and the course was well organised",
]


@pytest.fixture(scope="module")
def banking() -> tuple[pd.DataFrame, pd.DataFrame]:
    """8 training rows for each of the 10 kept intents; every test row of all 13 (3 of them unknown to the model)."""
    train = pd.read_csv(BANKING / "train.csv")
    train = train[~train.category.isin(UNKNOWN_INTENTS)].groupby("category").sample(8, random_state=0)
    return train, pd.read_csv(BANKING / "test.csv")


@pytest.fixture(scope="module")
def cascade(minilm: Encoder, banking) -> Cascade:
    train, _ = banking
    book = codebook_from_codes(train.category, codebook_id="banking-kept")
    return Cascade(minilm, book).fit(train.text.tolist(), [(c,) for c in train.category])


def _novel(reason: str | None) -> bool:
    return reason is not None and reason.startswith("novel:")


def test_off_topic_answers_go_to_review_as_novel(cascade: Cascade) -> None:
    for p in cascade.predict(OFF_TOPIC):
        assert p.needs_review and _novel(p.reason), p
        assert "novelty floor" in p.reason and "label description" in p.reason


def test_known_answers_mostly_still_auto_code(cascade: Cascade, banking) -> None:
    _, test = banking
    known = test[~test.category.isin(UNKNOWN_INTENTS)]
    predictions = cascade.predict(known.text.tolist())
    auto = np.array([not p.needs_review for p in predictions])
    right = np.array([p.codes == (c,) for p, c in zip(predictions, known.category, strict=True)])
    assert auto.mean() >= 0.6 and right[auto].mean() >= 0.9
    assert np.mean([_novel(p.reason) for p in predictions]) <= 0.15
    # Against the per-row floor the model had before: at most a few points of auto-coding lost.
    floor = cascade.ood_floor_
    try:
        cascade.ood_floor_ = cascade.metrics_["novelty"]["rows_floor"]
        before = np.mean([not p.needs_review for p in cascade.predict(known.text.tolist())])
    finally:
        cascade.ood_floor_ = floor
    assert before - auto.mean() <= 0.05


def test_answers_of_intents_never_trained_on_go_to_review(cascade: Cascade, banking) -> None:
    _, test = banking
    unknown = test[test.category.isin(UNKNOWN_INTENTS)]
    review = [p.needs_review for p in cascade.predict(unknown.text.tolist())]
    assert np.mean(review) >= 0.8


def test_metrics_record_the_floor_and_the_held_out_labels_recall(cascade: Cascade) -> None:
    m = cascade.metrics_
    novelty = m["novelty"]
    assert m["ood_floor"] == round(cascade.ood_floor_, 4) == novelty["floor"]
    assert 0.0 <= m["unknown_recall"] <= 1.0 and m["unknown_recall"] == novelty["unknown_recall"]
    assert novelty["rows_floor"] <= cascade.ood_floor_ < 1.0
    assert novelty["unknown_rows"] == 80 and novelty["label_groups"] == 5  # all 10 intents' rows, each once
    assert novelty["known_loss"] <= KNOWN_LOSS_BUDGET + 1e-9
    assert novelty["seconds"] < m["seconds"] and "held-out labels" in novelty["rule"]


def test_model_folder_keeps_the_floor_and_old_folders_keep_theirs(cascade: Cascade, tmp_path: Path, minilm: Encoder) -> None:
    path = save_model(cascade, tmp_path / "model")
    fresh = load_model(path, minilm)
    assert fresh.ood_floor_ == cascade.ood_floor_ and fresh.novelty_ == cascade.novelty_
    assert fresh.predict(OFF_TOPIC) == cascade.predict(OFF_TOPIC)
    # A folder written before held-out labels set the floor: no "novelty", the per-row floor in ood_floor.
    manifest = json.loads((path / "model.json").read_text(encoding="utf-8"))
    rows_floor = manifest["calibration"].pop("novelty")["rows_floor"]
    manifest["calibration"]["ood_floor"] = rows_floor
    (path / "model.json").write_text(json.dumps(manifest), encoding="utf-8")
    old = load_model(path, minilm)
    assert old.novelty_ is None and old.ood_floor_ == rows_floor
    assert all(p.needs_review and _novel(p.reason) for p in old.predict(OFF_TOPIC))


# --------------------------------------------------------------------------------------- the rule, no model


def test_choose_floor_reaches_the_target_within_the_known_budget() -> None:
    known = np.linspace(0.8, 1.0, 100)
    unknown = np.linspace(0.3, 0.75, 10)
    # Every unknown answer would be auto-coded: the floor must catch 9 of 10, the 9th lowest is 0.70.
    choice = choose_floor(known, np.ones(100, bool), unknown, np.ones(10, bool), 0.4, 5)
    assert 0.70 < choice["floor"] < 0.7001 and choice["unknown_recall"] == 0.9
    # ... which the 3% budget does not allow on known answers this close: the budget's ceiling wins.
    tight = np.linspace(0.69, 1.0, 100)
    choice = choose_floor(tight, np.ones(100, bool), unknown, np.ones(10, bool), 0.4, 5)
    assert choice["floor"] == pytest.approx(tight[3]) and choice["known_loss"] == 0.03
    assert choice["unknown_recall"] == 0.8
    # Known rows that go to review anyway cost nothing: the budget counts auto-coded ones only.
    auto = np.arange(100) >= 50
    assert choose_floor(tight, auto, unknown, np.ones(10, bool), 0.4, 5)["floor"] > 0.7


def test_choose_floor_keeps_the_per_row_floor_when_nothing_more_is_needed() -> None:
    known, unknown = np.linspace(0.5, 1.0, 100), np.linspace(0.3, 0.75, 10)
    unknown_auto = np.arange(10) >= 9  # low confidence already sends 9 of 10 to review
    choice = choose_floor(known, np.ones(100, bool), unknown, unknown_auto, 0.4, 5)
    assert choice["floor"] == 0.4 == choice["rows_floor"] and choice["unknown_recall"] == 0.9
    none = choose_floor(known, np.ones(100, bool), np.zeros(0), np.zeros(0, bool), 0.4, 5)
    assert none["floor"] == 0.4 and none["unknown_recall"] is None and none["unknown_rows"] == 0


def test_held_out_label_splits_drop_every_row_of_a_held_out_label() -> None:
    # Labels 0 and 1 in group 0, label 2 in group 1; row 3 has codes in both groups; row 4 is a label row (fold -1).
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 0, 0]], dtype=np.float32)
    folds = np.array([0, 1, 0, 1, -1])
    splits = list(held_out_label_splits(y, folds, np.array([0, 0, 1])))
    assert [(list(t), list(u)) for t, u in splits] == [([2], [0, 1]), ([0, 1, 4], [2])]
    groups = label_groups(7, 5, seed=0)
    assert sorted(np.bincount(groups)) == [1, 1, 1, 2, 2]
