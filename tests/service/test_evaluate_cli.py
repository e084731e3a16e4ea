"""`autocode evaluate` through Typer's runner: tables, JSON, the report folder, and errors for people."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from autocode.service.cli.evaluate import evaluate

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("evaluate")(evaluate)
    app.command("noop")(lambda: None)  # two commands, so the verb is named as in the real CLI
    return app


APP = _app()


@pytest.fixture()
def coded(tmp_path: Path) -> Path:
    """A coded table as `autocode code` writes it, plus a gold column and a second human coder."""
    rows = [
        # support_code, support_confidence, support_needs_review, gold, coder2
        ("64", 0.97, False, "64", "64"),
        ("64", 0.91, False, "64", "64"),
        ("65", 0.88, False, "65", "65"),
        ("10", 0.55, True, "11", "11"),
        ("R&D <x>", 0.93, False, "R&D <x>", "R&D <x>"),
        ("64", 0.40, True, "65", "64"),
        ("11", 0.76, False, "11", "11"),
        ("10", 0.99, False, "10", "10"),
        ("65", 0.30, True, "", "65"),
    ]
    frame = pd.DataFrame(rows, columns=["support_code", "support_confidence", "support_needs_review", "gold", "coder2"])
    frame.insert(0, "support", [f"answer {i}" for i in range(len(rows))])
    path = tmp_path / "coded.csv"
    frame.to_csv(path, index=False)
    return path


def test_evaluate_prints_the_summary_with_defaulted_confidence_and_review_columns(coded: Path) -> None:
    result = runner.invoke(APP, ["evaluate", str(coded), "--pred-column", "support_code", "--gold-column", "gold"])
    assert result.exit_code == 0, result.output
    for text in ["accuracy", "macro-F1", "Cohen", "expected calibration error", "auto-coded", "coverage", "per label"]:
        assert text in result.output
    assert "R&D <x>" in result.output


def test_evaluate_json_matches_the_library(coded: Path) -> None:
    from autocode.classifiers.evaluate import evaluate as compute

    result = runner.invoke(APP, ["evaluate", str(coded), "-p", "support_code", "-g", "gold", "--coder-column", "coder2", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    frame = pd.read_csv(coded, dtype=str, keep_default_na=False)
    expected = compute(frame["support_code"].tolist(), frame["gold"].tolist(),
                       [float(v) for v in frame["support_confidence"]],
                       [v == "True" for v in frame["support_needs_review"]],
                       extra_coders=[frame["coder2"].tolist()])
    assert metrics["n"] == 8 and metrics["n_excluded"] == 1
    for key in ["accuracy", "macro_f1", "cohen_kappa", "krippendorff_alpha", "ece"]:
        assert metrics[key] == pytest.approx(expected[key]), key
    assert metrics["auto_coded"] == pytest.approx(expected["auto_coded"])
    assert metrics["columns"]["confidence"] == "support_confidence"
    assert metrics["columns"]["needs_review"] == "support_needs_review"


def test_evaluate_report_writes_three_pngs_metrics_and_a_self_contained_page(coded: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(APP, ["evaluate", str(coded), "-p", "support_code", "-g", "gold", "--report", str(out)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"confusion_matrix.png", "coverage_accuracy.png", "reliability.png", "metrics.json", "index.html"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temp file left behind
    for png in ["confusion_matrix.png", "coverage_accuracy.png", "reliability.png"]:
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 3
    assert not re.search(r'src="(?!data:)', page)  # nothing fetched from outside the page
    assert "R&amp;D &lt;x&gt;" in page and "<x>" not in page
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n"] == 8 and "threshold_curve" in metrics and "reliability" in metrics


def test_evaluate_with_a_hierarchical_codebook_reports_per_level_accuracy(coded: Path, tmp_path: Path) -> None:
    book = tmp_path / "book.json"
    book.write_text(json.dumps({
        "id": "t", "name": "T", "version": "1",
        "labels": [
            {"code": "K", "name": "Finance"}, {"code": "64", "name": "Banks", "parent": "K"},
            {"code": "65", "name": "Insurance", "parent": "K"}, {"code": "C", "name": "Manufacturing"},
            {"code": "10", "name": "Food", "parent": "C"}, {"code": "11", "name": "Beverages", "parent": "C"},
        ],
    }), encoding="utf-8")
    result = runner.invoke(APP, ["evaluate", str(coded), "-p", "support_code", "-g", "gold", "--codebook", str(book), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    # 8 gold rows; "R&D <x>" is not in the codebook, so wrong at both levels; 10-for-11 and 64-for-65 are right only at level 0.
    assert metrics["per_level"]["0"] == pytest.approx(7 / 8)
    assert metrics["per_level"]["1"] == pytest.approx(5 / 8)
    assert metrics["per_label"]["64"]["name"] == "Banks"


def test_evaluate_multi_label_flag(tmp_path: Path) -> None:
    path = tmp_path / "multi.jsonl"
    pd.DataFrame({"c_code": ["a|b", "b", "c|a"], "gold": ["b|a", "b|c", "a|c"]}).to_json(path, orient="records", lines=True)
    result = runner.invoke(APP, ["evaluate", str(path), "-p", "c_code", "-g", "gold", "--multi-label", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["multi_label"] is True
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert "hamming_loss" in metrics and "micro_f1" in metrics
    assert "threshold_curve" not in metrics  # no confidence column to sweep
    # Sample-based F1: 1 (a|b vs b|a), 2/3 (b of b|c), 1 (c|a vs a|c).
    assert metrics["samples_f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert 0 < metrics["krippendorff_alpha_masi"] < 1
    table = runner.invoke(APP, ["evaluate", str(path), "-p", "c_code", "-g", "gold", "--multi-label"])
    assert table.exit_code == 0, table.output
    assert "sample-based F1" in table.output and "MASI" in table.output


@pytest.mark.parametrize(
    "args, named",
    [
        (["-p", "nope_code", "-g", "gold"], "nope_code"),
        (["-p", "support_code", "-g", "gold_missing"], "gold_missing"),
        (["-p", "support_code", "-g", "gold", "--coder-column", "coder9"], "coder9"),
        (["-p", "support_code", "-g", "gold", "--confidence-column", "conf_x"], "conf_x"),
    ],
)
def test_evaluate_names_a_missing_column(coded: Path, args: list[str], named: str) -> None:
    result = runner.invoke(APP, ["evaluate", str(coded), *args])
    assert result.exit_code == 2
    assert named in result.output and "support_code" in result.output  # lists what the file does have


def test_evaluate_refuses_unreadable_input_and_bad_cells(tmp_path: Path) -> None:
    missing = runner.invoke(APP, ["evaluate", str(tmp_path / "absent.csv"), "-p", "a", "-g", "b"])
    assert missing.exit_code == 2 and "absent.csv" in missing.output
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x_code": ["a", "b"], "x_confidence": ["0.9", "high"], "gold": ["a", "b"]}).to_csv(bad, index=False)
    result = runner.invoke(APP, ["evaluate", str(bad), "-p", "x_code", "-g", "gold"])
    assert result.exit_code == 2 and "row 2" in result.output and "high" in result.output
    no_gold = tmp_path / "nogold.csv"
    pd.DataFrame({"x_code": ["a"], "gold": [""]}).to_csv(no_gold, index=False)
    result = runner.invoke(APP, ["evaluate", str(no_gold), "-p", "x_code", "-g", "gold"])
    assert result.exit_code == 2 and "no rows with a gold code" in result.output
    unknown = runner.invoke(APP, ["evaluate", str(no_gold), "-p", "x_code", "-g", "gold", "--codebook", "no-such-book"])
    assert unknown.exit_code == 2 and "no-such-book" in unknown.output
