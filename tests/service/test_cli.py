"""The command line, in-process through Typer's runner, with the real model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.service.cli import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"


@pytest.mark.parametrize("args", [
    ["--help"], ["code", "--help"], ["codebooks", "--help"], ["codebooks", "list", "--help"], ["codebooks", "show", "--help"],
    ["demo", "--help"], ["evaluate", "--help"], ["train", "--help"], ["employers", "--help"], ["search", "--help"], ["records", "--help"],
    ["records", "add", "--help"], ["serve", "--help"], ["keys", "--help"], ["keys", "create", "--help"],
])
def test_every_verb_explains_itself(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output) > 200


def test_codebooks_list_names_the_four_builtins() -> None:
    result = runner.invoke(app, ["codebooks", "list"])
    assert result.exit_code == 0, result.output
    for cid in ["isic4", "gics", "m49", "employer-support"]:
        assert cid in result.output


def test_codebooks_show_prints_labels_and_refuses_unknown() -> None:
    result = runner.invoke(app, ["codebooks", "show", "isic4", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "Agriculture" in result.output
    bad = runner.invoke(app, ["codebooks", "show", "no-such-book"])
    assert bad.exit_code == 2
    assert "no-such-book" in bad.output


def test_code_writes_every_row_with_the_new_columns(tmp_path: Path) -> None:
    out = tmp_path / "coded.csv"
    result = runner.invoke(app, ["code", str(SAMPLE), "--column", "support", "--codebook", "employer-support", "--output", str(out)])
    assert result.exit_code == 0, result.output
    coded = pd.read_csv(out, dtype=str, keep_default_na=False)
    original = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    assert list(coded["respondent_id"]) == list(original["respondent_id"])
    for suffix in ["code", "label", "confidence", "method", "needs_review", "evidence"]:
        assert f"support_{suffix}" in coded.columns
    assert (coded["support_code"] != "").all()
    by_text = dict(zip(coded["support"], coded["support_code"], strict=True))
    assert "fees_full" in by_text["Fees were fully paid by my employer"]
    assert "no_support" in by_text["No support from employer"]
    assert "auto-coded" in result.output and "sent to review" in result.output


def test_code_names_a_missing_column(tmp_path: Path) -> None:
    result = runner.invoke(app, ["code", str(SAMPLE), "--column", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output and "employer" in result.output
