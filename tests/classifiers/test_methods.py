"""Each decision method on its own, with the real encoder: exact/alias, kNN, logistic head, lexical head, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autocode.classifiers.calibration import Calibrator
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.label_matrix import label_matrix
from autocode.classifiers.methods.alias import AliasClassifier, match_key
from autocode.classifiers.methods.head import LexicalHead, LinearHead
from autocode.classifiers.methods.knn import KNNClassifier
from autocode.classifiers.out_of_fold import assign_folds
from autocode.classifiers.thresholds import choose_threshold, guarantee_note
from autocode.embeddings import Encoder

BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # the CC BY 4.0 subset in tests/data (SOURCES.md there)
CLASSES = [
    "card_arrival", "lost_or_stolen_card", "exchange_rate", "pin_blocked", "top_up_failed", "age_limit",
    "apple_pay_or_google_pay", "cash_withdrawal_charge", "change_pin", "terminate_account",
]


@pytest.fixture(scope="module")
def banking() -> tuple[pd.DataFrame, pd.DataFrame]:
    """8 training examples and 15 test examples for each of 10 banking77 intents."""
    train = pd.read_csv(BANKING / "train.csv")
    test = pd.read_csv(BANKING / "test.csv")
    train = train[train.category.isin(CLASSES)].groupby("category").sample(8, random_state=0)
    test = test[test.category.isin(CLASSES)].groupby("category").head(15)
    return train, test


def _accuracy(predictions, truth) -> float:
    return float(np.mean([p.codes == (t,) for p, t in zip(predictions, truth, strict=True)]))


# --------------------------------------------------------------------------------------- alias


def test_alias_matches_names_and_aliases_of_the_codebook() -> None:
    book = load_codebook("employer-support")
    alias = AliasClassifier(book).fit()
    hits = alias.predict(["Mandatory training", "  paid STUDY leave. ", "Paid all course fees", "my boss was nice"])
    assert hits[0].codes == ("required",) and hits[0].method == "alias" and not hits[0].needs_review
    assert hits[0].evidence[0].kind == "alias" and "mandatory training" in hits[0].evidence[0].text
    assert hits[1].codes == ("study_time",)
    assert hits[2].codes == ("fees_full",)
    assert hits[3].codes == () and hits[3].needs_review and hits[3].reason == "no exact match"


def test_alias_learns_consistent_training_texts_and_drops_ambiguous_ones() -> None:
    book = load_codebook("employer-support")
    alias = AliasClassifier(book).fit(
        ["They paid for it", "they paid for it!", "work sorted it", "work sorted it"],
        [("fees_full",), ("fees_full",), ("fees_full",), ("fees_part",)],
    )
    found = alias.lookup(["THEY PAID FOR IT", "work sorted it"])
    assert found[0] is not None and found[0].codes == ("fees_full",)
    assert found[1] is None  # the same text with two different codes is left to the other methods
    proba = alias.predict_proba(["they paid for it", "something else"])
    assert proba.shape == (2, len(book.codes())) and proba[0].sum() == 1 and proba[1].sum() == 0


def test_match_key_ignores_case_spacing_and_edge_punctuation() -> None:
    assert match_key("  Paid   Study leave!! ") == match_key("paid study leave") == "paid study leave"


# --------------------------------------------------------------------------------------- kNN and heads


def test_knn_votes_and_shows_its_neighbours(minilm: Encoder, banking) -> None:
    train, test = banking
    knn = KNNClassifier(minilm, k=5).fit(train.text.tolist(), [(c,) for c in train.category])
    assert set(knn.classes_) == set(CLASSES)
    proba = knn.predict_proba(test.text.tolist())
    assert proba.shape == (len(test), len(CLASSES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predictions = knn.predict(test.text.tolist())
    assert _accuracy(predictions, test.category) >= 0.8
    first = predictions[0]
    assert first.method == "knn" and len(first.evidence) == 3
    assert all(e.kind == "neighbour" and e.code in CLASSES and e.text in set(train.text) for e in first.evidence)
    assert first.evidence[0].score >= first.evidence[1].score >= first.evidence[2].score


def test_linear_head_on_embeddings(minilm: Encoder, banking) -> None:
    train, test = banking
    head = LinearHead(minilm, C=10).fit(train.text.tolist(), [(c,) for c in train.category])
    proba = head.predict_proba(test.text.tolist())
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predictions = head.predict(test.text.tolist())
    assert _accuracy(predictions, test.category) >= 0.8
    assert predictions[0].method == "head" and 0 < predictions[0].confidence <= 1


def test_lexical_head_on_character_ngrams(banking) -> None:
    train, test = banking
    lexical = LexicalHead(C=10).fit(train.text.tolist(), [(c,) for c in train.category])
    assert len(lexical.ngrams.vocabulary_) > 100
    assert _accuracy(lexical.predict(test.text.tolist()), test.category) >= 0.5


def test_heads_and_knn_do_multi_label(minilm: Encoder) -> None:
    texts = [
        "they paid the full fee", "company covered all tuition", "paid study leave", "time off with pay to study",
        "full fees and paid study leave", "they covered everything and gave me exam leave",
    ]
    labels = [("fees_full",), ("fees_full",), ("study_time",), ("study_time",), ("fees_full", "study_time"), ("fees_full", "study_time")]
    for method in (LinearHead(minilm, multi_label=True), KNNClassifier(minilm, k=3, multi_label=True), LexicalHead(multi_label=True, min_df=1)):
        method.fit(texts, labels)
        proba = method.predict_proba(["full fee paid plus study leave on full pay"])
        assert proba.shape == (1, 2) and np.all((proba >= 0) & (proba <= 1))


# --------------------------------------------------------------------------------------- calibration pieces


def test_calibrator_is_monotone_and_never_certain() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=500)
    correct = rng.uniform(size=500) < scores
    calibrator = Calibrator.fit(scores, correct)
    grid = calibrator(np.linspace(0, 1, 50))
    assert np.all(np.diff(grid) >= 0) and grid.max() < 1.0 and grid.min() > 0.0
    again = Calibrator.from_dict(calibrator.to_dict())
    np.testing.assert_array_equal(again(scores), calibrator(scores))


def test_point_rule_is_the_lowest_cut_reaching_the_target() -> None:
    confidence = np.array([0.99, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 1, 1, 0, 0], dtype=bool)
    at = choose_threshold(confidence, correct, 0.95, level=None)
    assert at["threshold"] == 0.7 and at["coverage"] == pytest.approx(4 / 6) and at["accuracy"] == 1.0
    assert not at["guaranteed"]
    never = choose_threshold(confidence, np.zeros(6, dtype=bool), 0.95, level=None)
    assert never["threshold"] > 1.0 and never["coverage"] == 0.0


def test_six_rows_guarantee_nothing_and_auto_code_nothing() -> None:
    confidence = np.array([0.99, 0.9, 0.8, 0.7, 0.6, 0.5])
    at = choose_threshold(confidence, np.ones(6, dtype=bool), 0.95)
    assert at["threshold"] > 1.0 and at["coverage"] == 0.0 and not at["guaranteed"] and at["rows"] == 6
    assert "nothing is auto-coded" in guarantee_note(at, 0.95)


def test_the_guarantee_holds_where_the_point_rule_fails() -> None:
    """Pure statistics: scores whose true accuracy is known; how often each rule's cut falls short of the target."""
    rng = np.random.default_rng(0)
    short = {None: 0, 0.95: 0}
    coverage = {None: 0.0, 0.95: 0.0}
    trials = 200
    for _ in range(trials):
        confidence = 1.0 - rng.beta(0.5, 6.0, 800)  # P(right) = confidence: most rows sure, a long tail
        correct = rng.uniform(size=confidence.size) < confidence
        for level in short:
            at = choose_threshold(confidence, correct, 0.95, level=level)
            t = at["threshold"]
            # True accuracy above t under the same distribution, from a large fresh sample.
            fresh = 1.0 - rng.beta(0.5, 6.0, 50_000)
            above = fresh[fresh >= t]
            short[level] += bool(above.size and above.mean() < 0.95)
            coverage[level] += at["coverage"] / trials
    assert short[None] / trials > 0.3  # the old rule: the new data falls below the target about half the time
    assert short[0.95] / trials <= 0.05 + 0.03  # the guarantee: at most 5% (plus sampling slack over 200 trials)
    assert coverage[0.95] > 0.5  # and it still auto-codes most rows


def test_folds_keep_singletons_in_training() -> None:
    folds = assign_folds(np.array([0, 0, 0, 0, 0, 1, 2, 2]), 5)
    assert folds[5] == -1
    assert sorted(folds[:5]) == [0, 1, 2, 3, 4]
    assert np.all(folds[6:] >= 0)


def test_label_matrix_marks_codes() -> None:
    y = label_matrix([("a",), ("a", "c")], ["a", "b", "c"])
    np.testing.assert_array_equal(y, [[1, 0, 0], [1, 0, 1]])
