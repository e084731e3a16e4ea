"""`autocode train` end to end: a table in, a self-describing model folder out, bad rows reported by number."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from autocode.classifiers.model import load_model
from autocode.service.cli.train import collect_rows, train

BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # the CC BY 4.0 subset in tests/data (SOURCES.md there)
CLASSES = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "pin_blocked", "age_limit", "change_pin"]

app = typer.Typer()
app.command()(train)
runner = CliRunner()


def _plain(text: str) -> str:
    """Output without colour codes, with Rich's wrapping undone."""
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", text))


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV of 8 rows per intent for 6 banking77 intents, with three bad rows mixed in."""
    train_rows = pd.read_csv(BANKING / "train.csv")
    frame = train_rows[train_rows.category.isin(CLASSES)].groupby("category").sample(8, random_state=0)
    frame = frame.rename(columns={"text": "answer", "category": "code"}).reset_index(drop=True)
    bad = pd.DataFrame({"answer": ["", "where is my card", "my pin is blocked"], "code": ["card_arrival", "", "pin_blocked|change_pin"]})
    frame = pd.concat([frame.iloc[:3], bad, frame.iloc[3:]], ignore_index=True)
    path = tmp_path_factory.mktemp("train") / "answers.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_writes_a_model_folder_with_metrics_and_reports_bad_rows(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = runner.invoke(app, [str(table), "--text-column", "answer", "--label-column", "code", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    assert "row 4: empty text" in text
    assert "row 5: no code in 'code'" in text
    assert "row 6: 2 codes (pin_blocked|change_pin) but the model is single-label; pass --multi-label" in text
    assert "skipped 3 bad row(s) of 51" in text
    assert "wrote" in text and "auto-coded share" in text
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["metrics"]["n_train"] == 48 and manifest["metrics"]["calibrated"]
    assert manifest["codebook"]["id"] == "answers" and manifest["encoder"]["name"].endswith("all-MiniLM-L6-v2")
    model = load_model(out)
    assert model.predict(["I still have not received my new card"])[0].codes == ("card_arrival",)


def test_train_checks_codes_against_a_given_codebook(tmp_path: Path) -> None:
    path = tmp_path / "support.csv"
    pd.DataFrame({
        "text": ["they paid all my fees", "paid study leave", "nothing at all", "my boss made me", "free pizza"],
        "codes": ["fees_full", "study_time|fees_full", "no_support", "required", "pizza"],
    }).to_csv(path, index=False)
    out = tmp_path / "model"
    result = runner.invoke(app, [str(path), "-t", "text", "-l", "codes", "--codebook", "employer-support", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "row 5: code 'pizza' is not in codebook 'employer-support'" in _plain(result.output)
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["settings"]["multi_label"] is True  # the codebook is multi-label, so '|' rows are kept
    assert manifest["metrics"]["n_train"] == 4


def test_train_fails_clearly_on_a_missing_column_or_no_usable_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": ["a", ""], "label": ["", "x"]}).to_csv(path, index=False)
    missing = runner.invoke(app, [str(path), "-t", "answer", "-l", "label", "-o", str(tmp_path / "m")])
    assert missing.exit_code == 2 and "no column 'answer'" in _plain(missing.output)
    empty = runner.invoke(app, [str(path), "-t", "text", "-l", "label", "-o", str(tmp_path / "m")])
    assert empty.exit_code == 2 and "no usable training rows" in _plain(empty.output)
    assert not (tmp_path / "m").exists()


def test_collect_rows_splits_codes_and_keeps_good_rows() -> None:
    frame = pd.DataFrame({"t": ["a", "b ", None, "d"], "c": ["x | y", "x", "x", 7.0]})
    texts, labels, problems = collect_rows(frame, "t", "c", None, multi_label=True)
    assert texts == ["a", "b", "d"] and labels == [("x", "y"), ("x",), ("7",)]
    assert problems == ["row 3: empty text"]


def test_train_continue_refits_with_the_reviewed_answers(table: Path, tmp_path: Path) -> None:
    from autocode.service.cli import app as autocode_app
    from autocode.service.review.sessions import ReviewSessions, parse_source

    model = tmp_path / "model"
    assert runner.invoke(app, [str(table), "-t", "answer", "-l", "code", "-o", str(model)]).exit_code == 0
    before = load_model(model)
    # A coded file whose one answer the model has never seen; a person reviews it as lost_or_stolen_card.
    answer = "somebody took my wallet with the card inside"
    coded = tmp_path / "coded.csv"
    pd.DataFrame({"answer": [answer, answer], "answer_code": ["card_arrival"] * 2, "answer_confidence": [0.4] * 2,
                  "answer_needs_review": ["True"] * 2}).to_csv(coded, index=False)
    queue = ReviewSessions(reviewer="tester").open(coded, "answer", parse_source(model=model))
    queue.decide(queue.next().item_id, "choose", "tester", {"codes": ["lost_or_stolen_card"]})

    result = CliRunner().invoke(autocode_app, ["train", "--continue", str(model)])
    assert result.exit_code == 0, result.output
    assert "1 corrections filed under model:sha256:" in _plain(result.output)
    after = load_model(model)
    assert len(after.knn_.texts_) == len(before.knn_.texts_) + 1 and answer in after.knn_.texts_
    assert after.predict([answer])[0].codes == ("lost_or_stolen_card",)

    missing = CliRunner().invoke(autocode_app, ["train", "--continue", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "nope" in _plain(missing.output)
    bare = CliRunner().invoke(autocode_app, ["train"])
    assert bare.exit_code != 0 and "--continue MODEL_DIR" in _plain(bare.output)
