"""`autocode discover` end to end, in-process with the real model: the draft it writes is what `autocode code` codes with."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.classifiers.codebook import load_codebook
from autocode.service.cli import app

runner = CliRunner()
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "discover_answers.csv"


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "improve.csv"
    shutil.copy(FIXTURE, path)
    return path


def test_discover_writes_a_codebook_that_codes_the_file(answers: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["discover", str(answers), "--column", "improve"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "improve.codebook.yaml"
    book = load_codebook(out)
    assert book.id == "improve-draft" and len(book) == 4
    assert all(len(label.examples) == 5 and label.description for label in book.labels)
    assert "4 codes: the highest cosine silhouette" in result.output and "wrote" in result.output
    for label in book.labels:
        assert label.code in result.output

    coded_path = tmp_path / "coded.csv"
    coded = runner.invoke(app, ["code", str(answers), "--column", "improve", "--codebook", str(out), "-o", str(coded_path)])
    assert coded.exit_code == 0, coded.output
    rows = pd.read_csv(coded_path, dtype=str, keep_default_na=False)
    themed = rows[rows["theme"] != ""]
    assert len(rows) == 66 and set(themed["improve_code"]) <= set(book.codes())
    # Each theme's rows go, nearly all, to one drafted code, and different themes to different codes.
    majority = {theme: Counter(group["improve_code"]).most_common(1)[0] for theme, group in themed.groupby("theme")}
    assert len({code for code, _ in majority.values()}) == 4
    assert sum(n for _, n in majority.values()) / len(themed) >= 0.95
    assert (themed["improve_needs_review"] == "False").mean() >= 0.5  # the examples set a usable review threshold


def test_an_existing_codebook_is_kept_unless_forced(answers: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("edited by hand\n", encoding="utf-8")
    refused = runner.invoke(app, ["discover", str(answers), "-c", "improve", "--out", str(out)])
    assert refused.exit_code == 2 and "--force" in refused.output
    assert out.read_text(encoding="utf-8") == "edited by hand\n"
    forced = runner.invoke(app, ["discover", str(answers), "-c", "improve", "--out", str(out), "--force", "--codes", "3",
                                 "--id", "mine"])
    assert forced.exit_code == 0, forced.output
    book = load_codebook(out)
    assert book.id == "mine" and len(book) == 3 and "3 codes, as asked" in forced.output


def test_bad_input_names_the_file_and_column(answers: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["discover", str(answers), "-c", "answer"])
    assert missing.exit_code == 2 and "no column 'answer'" in missing.output and "improve" in missing.output

    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["discover", str(empty), "-c", "improve"])
    assert result.exit_code == 2 and "empty.csv" in result.output and "empty" in result.output

    few = tmp_path / "few.csv"
    few.write_text("improve\nbetter pay\nBetter pay\nparking\n-\n", encoding="utf-8")
    result = runner.invoke(app, ["discover", str(few), "-c", "improve"])
    assert result.exit_code == 2
    assert "few.csv, column 'improve': only 2 distinct answer(s)" in result.output.replace("\n", "")
    assert not (tmp_path / "few.codebook.yaml").exists()

    nowhere = runner.invoke(app, ["discover", str(tmp_path / "absent.csv"), "-c", "improve"])
    assert nowhere.exit_code == 2 and "absent.csv: no such file" in nowhere.output.replace("\n", "")
