"""The employer row confidence: its calibration table, the auto-coding cut, and what the shipped table promises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autocode.classifiers.employers.confidence import KINDS, RowConfidence, load_table, shipped
from autocode.classifiers.thresholds import NO_AUTO_CODING, accuracy_lower_bound


def _table(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    # Unit test of the bookkeeping on a made-up table: group "good" is right whenever raw > 0.5, group "weak" only
    # above 0.9 (and by chance below), so only high raw scores are auto-coded.
    raw_g, raw_w = rng.uniform(0, 1, 600), rng.uniform(0, 1, 600)
    right_g = (raw_g > 0.5).astype(float)
    right_w = ((raw_w > 0.9) | (rng.uniform(0, 1, 600) < 0.3)).astype(float)
    raw = np.concatenate([raw_g, raw_w])
    group = np.asarray(["good"] * 600 + ["weak"] * 600)
    return {"match": (raw, np.concatenate([right_g, right_w]), group)}


def test_the_cut_is_the_pooled_guarantee_and_never_below_the_target() -> None:
    conf = RowConfidence.fit(_table(np.random.default_rng(0)), 0.95)
    pooled = conf.choices["match"]["all"]
    assert pooled["guaranteed"] and set(conf.choices["match"]) == {"all", "good", "weak"}
    assert conf.cuts["match"] == max(pooled["threshold"], 0.95)
    # A raw score the weak group is right on only by chance is not auto-coded; a high one is.
    assert not conf.auto("match", conf.confidence("match", 0.7))
    assert conf.auto("match", conf.confidence("match", 0.99))


def test_a_kind_without_calibration_rows_auto_codes_nothing() -> None:
    conf = RowConfidence.fit(_table(np.random.default_rng(1)), 0.95)
    assert conf.cuts["inferred"] == NO_AUTO_CODING
    assert not conf.auto("inferred", 1.0)


def test_a_bad_table_line_names_the_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "confidence.csv"
    path.write_text("# comment\nkind,group,raw,right\nmatch,known,0.9,1\nguess,known,0.2,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"confidence.csv: row 2, field 'kind': 'guess'"):
        load_table(path)
    path.write_text("kind,group,raw\nmatch,known,0.9\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        load_table(path)


def test_the_shipped_table_keeps_the_target_on_what_it_auto_codes() -> None:
    table = load_table()
    conf = shipped(0.95)
    assert sum(table[k][0].size for k in KINDS) >= 2000  # fitted on the calibrate part's queries, all kinds
    for kind in KINDS:
        raw, right, _ = table[kind]
        auto = np.asarray([conf.auto(kind, conf.confidence(kind, float(r))) for r in raw])
        if auto.any():
            bound = accuracy_lower_bound(int(right[auto].sum()), int(auto.sum()), 0.05)
            assert bound >= 0.95, (kind, int(auto.sum()), bound)
        # Monotone: a higher raw score never reads as a lower probability.
        grid = np.linspace(0, 1, 101)
        assert np.all(np.diff([conf.confidence(kind, float(x)) for x in grid]) >= 0)
