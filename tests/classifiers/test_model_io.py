"""Saving and loading a trained Cascade: identical predictions, a self-describing folder, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import codebook_from_codes, load_codebook, parse_codebook
from autocode.classifiers.model import FORMAT_VERSION, ModelFormatError, ModelMismatchError, load_model, read_manifest, save_model
from autocode.embeddings import Encoder

BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # the CC BY 4.0 subset in tests/data (SOURCES.md there)
CLASSES = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "pin_blocked", "top_up_failed", "age_limit", "change_pin", "terminate_account"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, list[str]]:
    """8 training rows per intent for 8 banking77 intents, and held-out texts (plus nonsense)."""
    train = pd.read_csv(BANKING / "train.csv")
    test = pd.read_csv(BANKING / "test.csv")
    train = train[train.category.isin(CLASSES)].groupby("category").sample(8, random_state=1)
    held = test[test.category.isin(CLASSES)].groupby("category").head(6).text.tolist()
    return train, [*held, "asdfgh qwerty", train.text.iloc[0]]


@pytest.fixture(scope="module")
def saved(minilm: Encoder, data, tmp_path_factory: pytest.TempPathFactory) -> tuple[Cascade, Path]:
    """A trained cascade and the folder it was saved to."""
    train, _ = data
    cascade = Cascade(minilm, codebook_from_codes(train.category, codebook_id="banking")).fit(
        train.text.tolist(), [(c,) for c in train.category]
    )
    path = tmp_path_factory.mktemp("models") / "banking-model"
    save_model(cascade, path)
    return cascade, path


def test_reloaded_model_gives_identical_predictions(saved, data) -> None:
    cascade, path = saved
    _, texts = data
    fresh = load_model(path)
    assert fresh is not cascade
    assert fresh.predict(texts) == cascade.predict(texts)  # codes, confidences, evidence, review flags
    np.testing.assert_array_equal(fresh.predict_proba(texts), cascade.predict_proba(texts))
    assert fresh.metrics_ == cascade.metrics_ and fresh.threshold_ == cascade.threshold_


def test_model_folder_describes_itself(saved) -> None:
    cascade, path = saved
    manifest = json.loads((path / "model.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["autocode_version"]
    assert manifest["encoder"] == {"key": "minilm", "name": cascade.encoder.name, "dim": cascade.encoder.dim}
    assert manifest["codebook"]["id"] == "banking" and (path / manifest["codebook"]["file"]).is_file()
    assert manifest["metrics"]["accuracy"] > 0.5 and "threshold" in manifest["metrics"] and "coverage" in manifest["metrics"]
    assert manifest["created_at"]
    stored = {p.suffix for p in path.rglob("*") if p.is_file()}
    assert not stored & {".pkl", ".pickle", ".joblib"}
    for rel, size in manifest["files"].items():
        assert (path / rel).stat().st_size == size
    assert not list(path.parent.glob(".banking-model.tmp-*"))


def _copy_with_manifest(path: Path, target: Path, edit) -> Path:
    """A copy of the model folder at `target` with model.json changed by `edit`."""
    import shutil

    shutil.copytree(path, target)
    manifest = json.loads((target / "model.json").read_text())
    edit(manifest)
    (target / "model.json").write_text(json.dumps(manifest))
    return target


def test_a_model_from_another_encoder_is_refused(saved, tmp_path: Path) -> None:
    _, path = saved
    other = _copy_with_manifest(path, tmp_path / "other", lambda m: m["encoder"].update(name="sentence-transformers/all-mpnet-base-v2", dim=768))
    with pytest.raises(ModelMismatchError, match=r"trained with encoder 'sentence-transformers/all-mpnet-base-v2' \(dim 768\).*retrain"):
        load_model(other)


def test_a_newer_format_is_refused_and_unknown_keys_are_tolerated(saved, data, tmp_path: Path) -> None:
    cascade, path = saved
    newer = _copy_with_manifest(path, tmp_path / "newer", lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFormatError, match="upgrade autocode"):
        load_model(newer)
    extra = _copy_with_manifest(path, tmp_path / "extra", lambda m: m.update(future_field={"x": 1}) or m["calibration"].update(new_thing=2))
    _, texts = data
    assert load_model(extra).predict(texts[:3]) == cascade.predict(texts[:3])
    with pytest.raises(ModelFormatError, match=r"no model\.json"):
        read_manifest(tmp_path)


def test_saving_replaces_an_old_model_but_never_a_foreign_folder(saved, tmp_path: Path, minilm: Encoder) -> None:
    cascade, _ = saved
    target = tmp_path / "model"
    save_model(cascade, target)
    untrained = Cascade(minilm, load_codebook("employer-support")).fit([], [])
    save_model(untrained, target)
    assert read_manifest(target)["metrics"]["mode"] == "zero-shot"
    reloaded = load_model(target)
    assert reloaded.predict(["paid study leave", "they paid my fees"]) == untrained.predict(["paid study leave", "they paid my fees"])
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="not a model folder"):
        save_model(cascade, foreign)
    assert (foreign / "cat.jpg").exists()


def test_hierarchical_multi_label_state_round_trips(minilm: Encoder, tmp_path: Path) -> None:
    book = parse_codebook({
        "id": "tiny", "name": "tiny", "version": "1", "multi_label": True,
        "labels": [
            {"code": "F", "name": "Fees"}, {"code": "full", "name": "Paid all fees", "parent": "F"},
            {"code": "part", "name": "Paid part of the fees", "parent": "F"}, {"code": "time", "name": "Paid study time"},
        ],
    })
    texts = ["they paid everything", "all fees covered", "half the fees", "a fee subsidy", "paid study leave", "exam days off with pay",
             "all fees and paid study leave", "half the fees plus exam leave", "fully funded", "80% of the cost", "study hours at work",
             "paid leave to study"]
    labels = [("full",), ("full",), ("part",), ("part",), ("time",), ("time",), ("full", "time"), ("part", "time"), ("full",), ("part",),
              ("time",), ("time",)]
    cascade = Cascade(minilm, book).fit(texts, labels)
    save_model(cascade, tmp_path / "m")
    probe = ["my company paid the whole fee and gave me study leave", "they covered a share of the fees", "qwerty"]
    assert load_model(tmp_path / "m").predict(probe) == cascade.predict(probe)
