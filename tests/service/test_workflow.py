"""A researcher's whole loop through the real `autocode` app: train, code a new file with the model, evaluate it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.service.cli import app

BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # the CC BY 4.0 subset in tests/data (SOURCES.md there)
CLASSES = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "pin_blocked", "age_limit", "change_pin"]
runner = CliRunner()


def test_train_then_code_with_the_model_then_evaluate(tmp_path: Path) -> None:
    train = pd.read_csv(BANKING / "train.csv")
    train = train[train.category.isin(CLASSES)].groupby("category").sample(10, random_state=1)
    train.to_csv(tmp_path / "train.csv", index=False)
    test = pd.read_csv(BANKING / "test.csv")
    test = test[test.category.isin(CLASSES)].groupby("category").head(10).rename(columns={"category": "gold"})
    test.to_parquet(tmp_path / "new.parquet", index=False)

    trained = runner.invoke(app, ["train", str(tmp_path / "train.csv"), "-t", "text", "-l", "category", "-o", str(tmp_path / "model")])
    assert trained.exit_code == 0, trained.output
    coded = runner.invoke(app, ["code", str(tmp_path / "new.parquet"), "-c", "text", "--model", str(tmp_path / "model"),
                                "-o", str(tmp_path / "coded.parquet")])
    assert coded.exit_code == 0, coded.output
    out = pd.read_parquet(tmp_path / "coded.parquet")
    assert list(out["text"]) == list(test["text"])  # same rows, same order
    assert out["text_method"].str.startswith(("knn", "alias")).all()

    report = tmp_path / "report"
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "coded.parquet"), "-p", "text_code", "-g", "gold", "--report", str(report), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert metrics["accuracy"] == pytest.approx((out["text_code"] == out["gold"]).mean())
    assert metrics["accuracy"] >= 0.8
    assert (report / "index.html").exists()

    # With --model, evaluate says what the model guaranteed on how many rows, and whether this file kept it.
    promised = runner.invoke(app, ["evaluate", str(tmp_path / "coded.parquet"), "-p", "text_code", "-g", "gold",
                                   "--model", str(tmp_path / "model"), "--json"])
    assert promised.exit_code == 0, promised.output
    promise = json.loads(promised.stdout)["promise"]
    manifest = json.loads((tmp_path / "model" / "model.json").read_text())["metrics"]
    assert promise["rows"] == manifest["n_validation"] == 60 and promise["guarantee"] == manifest["guarantee"]
    auto = json.loads(promised.stdout)["auto_coded"]
    assert promise["kept"] == (None if auto["accuracy"] is None else auto["accuracy"] >= 0.95)
    assert promise["guaranteed"] == (auto["n"] > 0)  # 60 rows: auto-coded only where the guarantee held
