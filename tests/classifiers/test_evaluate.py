"""Evaluation metrics: scikit-learn's numbers on fixed examples, hand-computed calibration, textbook alpha."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import MultiLabelBinarizer

from autocode.classifiers.codebook import parse_codebook
from autocode.classifiers.evaluate import (
    canonical_code,
    evaluate,
    expected_calibration_error,
    krippendorff_alpha,
    krippendorff_alpha_masi,
    krippendorff_alpha_nominal,
    masi_distance,
    threshold_curve,
)

GOLD = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "a", "d"]
PRED = ["a", "b", "a", "b", "c", "c", "c", "a", "c", "a", "c"]


def test_single_label_metrics_match_sklearn() -> None:
    m = evaluate(PRED, GOLD)
    assert m["n"] == len(GOLD) and m["n_excluded"] == 0
    assert m["accuracy"] == pytest.approx(accuracy_score(GOLD, PRED))
    assert m["macro_f1"] == pytest.approx(f1_score(GOLD, PRED, average="macro", zero_division=0))
    assert m["cohen_kappa"] == pytest.approx(cohen_kappa_score(GOLD, PRED))
    labels = sorted(set(GOLD) | set(PRED))
    p, r, f, s = precision_recall_fscore_support(GOLD, PRED, labels=labels, zero_division=0)
    for i, code in enumerate(labels):
        row = m["per_label"][code]
        assert row["precision"] == pytest.approx(p[i])
        assert row["recall"] == pytest.approx(r[i])
        assert row["f1"] == pytest.approx(f[i])
        assert row["support"] == s[i]
    # Hand check of the example itself, so a shared mistake with sklearn cannot hide.
    assert m["accuracy"] == pytest.approx(7 / 11)
    assert list(m["per_label"]) == ["a", "c", "b", "d"]  # by support, then code
    json.dumps(m, allow_nan=False)


def test_blank_gold_rows_are_excluded_and_blank_predictions_are_errors_not_classes() -> None:
    gold = ["a", "", "b", None, "b", "a"]
    pred = ["a", "b", "", "a", "b", "b"]
    m = evaluate(pred, gold)
    assert m["n"] == 4 and m["n_excluded"] == 2 and m["n_empty_pred"] == 1
    kept_g, kept_p = ["a", "b", "b", "a"], ["a", "", "b", "b"]
    assert m["accuracy"] == pytest.approx(accuracy_score(kept_g, kept_p))
    # Macro-F1 over the real labels only: the blank prediction costs b a recall point but is no class.
    assert m["macro_f1"] == pytest.approx(f1_score(kept_g, kept_p, labels=["a", "b"], average="macro"))
    assert set(m["per_label"]) == {"a", "b"}
    assert m["per_label"]["b"]["recall"] == pytest.approx(0.5)


def test_no_gold_rows_and_length_mismatch_are_refused() -> None:
    with pytest.raises(ValueError, match="no rows with a gold code"):
        evaluate(["a"], [""])
    with pytest.raises(ValueError, match="rows"):
        evaluate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="confidence"):
        evaluate(["a"], ["a"], [0.5, 0.5])


def test_kappa_is_none_not_nan_when_undefined() -> None:
    m = evaluate(["a", "a"], ["a", "a"])
    assert m["accuracy"] == 1.0 and m["cohen_kappa"] is None
    json.dumps(m, allow_nan=False)


CONF = [0.95, 0.85, 0.62, 0.25]
RIGHT = [True, False, True, False]


def test_ece_by_hand() -> None:
    ece, bins = expected_calibration_error(CONF, RIGHT, n_bins=10)
    # One row per bin: mean |accuracy - confidence| = (0.05 + 0.85 + 0.38 + 0.25) / 4.
    assert ece == pytest.approx(0.3825)
    assert [b["count"] for b in bins] == [0, 0, 1, 0, 0, 0, 1, 0, 1, 1]
    assert bins[8] == {"bin_lo": 0.8, "bin_hi": 0.9, "count": 1, "mean_confidence": 0.85, "accuracy": 0.0}
    assert bins[0]["mean_confidence"] is None and bins[0]["accuracy"] is None

    ece2, bins2 = expected_calibration_error(CONF, RIGHT, n_bins=2)
    # [0, .5): 0.25 wrong -> 0.25; [.5, 1]: mean conf 2.42/3, accuracy 2/3.
    assert ece2 == pytest.approx(0.25 * 0.25 + 0.75 * abs(2 / 3 - 2.42 / 3))
    assert ece2 == pytest.approx(0.1675)
    assert [b["count"] for b in bins2] == [1, 3]

    _, edge = expected_calibration_error([1.0, 0.0], [True, False], n_bins=10)
    assert edge[9]["count"] == 1 and edge[0]["count"] == 1  # 1.0 falls in the last bin


def test_threshold_curve_by_hand() -> None:
    curve = {p["threshold"]: p for p in threshold_curve(CONF, RIGHT)}
    assert curve[0.0]["coverage"] == 1.0 and curve[0.0]["accuracy"] == 0.5
    assert curve[0.6]["coverage"] == 0.75 and curve[0.6]["accuracy"] == pytest.approx(2 / 3)
    assert curve[0.85]["coverage"] == 0.5 and curve[0.85]["accuracy"] == 0.5  # an observed value: >= keeps it
    assert curve[0.9]["coverage"] == 0.25 and curve[0.9]["accuracy"] == 1.0
    assert curve[0.99]["coverage"] == 0.0 and curve[0.99]["accuracy"] is None
    for t in CONF:
        assert t in curve  # observed confidences are thresholds too
    assert len(curve) <= 100
    big = threshold_curve(np.random.default_rng(0).random(10_000), np.ones(10_000, dtype=bool))
    assert len(big) <= 100
    assert [p["threshold"] for p in big] == sorted(p["threshold"] for p in big)


def test_evaluate_reports_calibration_coverage_and_auto_coded_share() -> None:
    gold = ["a", "b", "a", "b"]
    pred = ["a", "a", "a", "a"]  # right, wrong, right, wrong: as RIGHT
    m = evaluate(pred, gold, CONF, [False, False, True, True])
    assert m["ece"] == pytest.approx(0.3825)
    assert len(m["reliability"]) == 10
    assert m["at_target"] == {"target": 0.95, "threshold": 0.9, "coverage": 0.25, "accuracy": 1.0}
    # 1 right of 2: the 95% Clopper-Pearson lower bound p solves P(at least 1 right) = 1 - (1 - p)**2 = 0.05.
    assert m["auto_coded"] == {"n": 2, "share": 0.5, "accuracy": 0.5, "lower_bound_95": pytest.approx(1 - 0.95**0.5)}
    assert m["review"] == {"n": 2, "share": 0.5, "accuracy": 0.5}
    missing = evaluate(pred, gold, [0.95, None, float("nan"), 0.25])
    assert missing["n_missing_confidence"] == 2
    with pytest.raises(ValueError, match="outside"):
        evaluate(pred, gold, [1.5, 0.1, 0.1, 0.1])


def test_krippendorff_alpha_textbook_example_with_missing_values() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
    # 12 units, nominal values with missing data; published alpha = 0.743.
    raw = [
        "1 2 3 3 2 1 4 1 2 . . .",
        "1 2 3 3 2 2 4 1 2 5 . 3",
        ". 3 3 3 2 3 4 2 2 5 1 .",
        "1 2 3 3 2 4 4 1 2 5 1 .",
    ]
    a, b, c, d = ([v if v != "." else "" for v in row.split()] for row in raw)
    assert krippendorff_alpha_nominal([a, b, c, d]) == pytest.approx(0.743, abs=5e-4)
    m = evaluate(b, a, extra_coders=[c, d])
    assert m["krippendorff_alpha"] == pytest.approx(0.743, abs=5e-4)
    assert m["n_coders"] == 4
    assert m["n"] == 9 and m["n_excluded"] == 3  # pred-vs-gold figures use only rows A coded


def test_krippendorff_alpha_edge_cases() -> None:
    assert krippendorff_alpha_nominal([["a", "b"], ["a", "b"]]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None  # one value only: undefined
    assert krippendorff_alpha_nominal([["a", ""], ["", "b"]]) is None  # nothing pairable
    # Two coders, no missing data: alpha is Scott's pi with the (n-1) small-sample correction.
    x, y = ["a", "a", "b", "b"], ["a", "b", "b", "b"]
    # o_aa=2, o_ab=o_ba=1, o_bb=4; n_a=3, n_b=5, n=8: alpha = 1 - 7 * 2 / (64 - 9 - 25) = 1 - 14/30.
    assert krippendorff_alpha_nominal([x, y]) == pytest.approx(1 - 14 / 30)


CODEBOOK = {
    "id": "t",
    "name": "T",
    "version": "1",
    "labels": [
        {"code": "K", "name": "Finance"},
        {"code": "64", "name": "Banks", "parent": "K"},
        {"code": "65", "name": "Insurance", "parent": "K"},
        {"code": "C", "name": "Manufacturing"},
        {"code": "10", "name": "Food", "parent": "C"},
        {"code": "11", "name": "Beverages", "parent": "C"},
    ],
}


def test_per_level_accuracy_on_a_two_level_codebook() -> None:
    cb = parse_codebook(CODEBOOK)
    gold = ["64", "64", "65", "10", "11", "K", "ZZ"]
    pred = ["64", "65", "10", "XX", "C", "K", "64"]
    m = evaluate(pred, gold, codebook=cb)
    # Level 0 (K/C): right on rows 1, 2, 5 (back-off to C), 6; XX and the unknown gold ZZ are wrong everywhere.
    assert m["per_level"][0] == pytest.approx(4 / 7)
    # Level 1: only row 1; row 6 (gold K) has no level-1 code and is left out; a back-off is wrong here.
    assert m["per_level"][1] == pytest.approx(1 / 6)
    assert m["per_level_support"] == {0: 7, 1: 6}
    assert m["unknown_codes"] == {"gold": 1, "pred": 1}
    assert m["per_label"]["64"]["name"] == "Banks"
    assert "name" not in m["per_label"]["ZZ"]
    flat = parse_codebook({"id": "f", "name": "F", "version": "1", "labels": [{"code": "x", "name": "X"}]})
    assert "per_level" not in evaluate(["x"], ["x"], codebook=flat)


def test_multi_label_metrics_match_sklearn() -> None:
    gold = ["a|b", "a", "c", "b|c", "a|c", "b"]
    pred = ["b|a", "a|c", "c", "b", "", "b| b"]
    m = evaluate(pred, gold, multi_label=True)
    mlb = MultiLabelBinarizer()
    g = [set(v.split("|")) for v in gold]
    p = [{c.strip() for c in v.split("|") if c.strip()} for v in pred]
    mlb.fit(g + p)
    yt, yp = mlb.transform(g), mlb.transform(p)
    assert m["accuracy"] == m["subset_accuracy"] == pytest.approx(accuracy_score(yt, yp))
    assert m["accuracy"] == pytest.approx(3 / 6)  # order and repeats do not matter
    assert m["macro_f1"] == pytest.approx(f1_score(yt, yp, average="macro", zero_division=0))
    assert m["micro_f1"] == pytest.approx(f1_score(yt, yp, average="micro", zero_division=0))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(yt, yp))
    pr, rc, f1, sup = precision_recall_fscore_support(yt, yp, average=None, zero_division=0)
    for i, code in enumerate(mlb.classes_):
        assert m["per_label"][code]["precision"] == pytest.approx(pr[i])
        assert m["per_label"][code]["recall"] == pytest.approx(rc[i])
        assert m["per_label"][code]["f1"] == pytest.approx(f1[i])
        assert m["per_label"][code]["support"] == sup[i]
    canon_g = [canonical_code(v, True) for v in gold]
    canon_p = [canonical_code(v, True) for v in pred]
    assert m["cohen_kappa"] == pytest.approx(cohen_kappa_score(canon_g, canon_p))
    # Sample-based F1 by hand: 1, 2/3 (a of a|c), 1, 2/3 (b of b|c), 0 (nothing predicted), 1.
    assert m["samples_f1"] == pytest.approx((1 + 2 / 3 + 1 + 2 / 3 + 0 + 1) / 6)
    assert m["samples_f1"] == pytest.approx(f1_score(yt, yp, average="samples", zero_division=0))
    assert m["krippendorff_alpha_masi"] is not None and m["n_coders"] == 2
    json.dumps(m, allow_nan=False)


def test_masi_distance_by_hand() -> None:
    a, ab, b, c = frozenset("a"), frozenset("ab"), frozenset("b"), frozenset("c")
    assert masi_distance(ab, ab) == 0.0
    assert masi_distance(a, ab) == pytest.approx(1 - 0.5 * 2 / 3)  # Jaccard 1/2, a subset
    assert masi_distance(ab, frozenset("bc")) == pytest.approx(1 - (1 / 3) * (1 / 3))  # overlap, neither a subset
    assert masi_distance(b, c) == 1.0


def test_krippendorff_alpha_masi_by_hand() -> None:
    # Units: {a}/{a}, {a,b}/{a}, {b}/{c}. Coincidences: o(A,A)=2, o(AB,A)=o(A,AB)=1, o(B,C)=o(C,B)=1; n=6.
    # D_o = (2 * 2/3 + 2 * 1) / 6; D_e = 2 * (3*1*2/3 + 3 + 3 + 1*1*2/3 + 1 + 1) / (6 * 5).
    d_o = (2 * 2 / 3 + 2) / 6
    d_e = 2 * (2 + 3 + 3 + 2 / 3 + 1 + 1) / 30
    assert krippendorff_alpha_masi([["a", "a|b", "b"], ["a", "a", "c"]]) == pytest.approx(1 - d_o / d_e)
    # With 0/1 distance on the same sets it is nominal alpha, which gives no partial credit: lower.
    assert krippendorff_alpha_nominal([["a", "a|b", "b"], ["a", "a", "c"]]) < 1 - d_o / d_e
    # Sets equal in every unit agree perfectly; an empty cell is a missing value, not a set.
    assert krippendorff_alpha_masi([["a|b", "c", ""], ["b|a", "c", "a"]]) == pytest.approx(1.0)


def test_generic_alpha_with_nominal_distance_is_the_nominal_alpha() -> None:
    x, y = ["a", "a", "b", "b"], ["a", "b", "b", "b"]
    assert krippendorff_alpha([x, y]) == pytest.approx(krippendorff_alpha_nominal([x, y]))


def test_multi_label_per_level_compares_ancestor_sets() -> None:
    cb = parse_codebook(CODEBOOK)
    m = evaluate(["64|10", "64"], ["65|11", "64|65"], codebook=cb, multi_label=True)
    # Row 1: {K, C} = {K, C} at level 0, {64, 10} != {65, 11} at level 1; row 2: {K} = {K}, {64} != {64, 65}.
    assert m["per_level"] == {0: 1.0, 1: 0.0}
