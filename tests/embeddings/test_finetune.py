"""SetFit-style fine-tuning of MiniLM: a tiny real run on banking77 intents, the saved folder, the backend."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autocode.embeddings import Encoder, IndexMismatchError, VectorIndex
from autocode.embeddings.finetune import MANIFEST, FineTunedMiniLMBackend, build_pairs, finetune_minilm, folder_digest

BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # the CC BY 4.0 subset in tests/data (SOURCES.md there)
INTENTS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "pin_blocked", "top_up_failed", "wrong_amount_of_cash_received"]


def _margin(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine of same-intent pairs minus mean cosine of different-intent pairs."""
    sim = vectors @ vectors.T
    same = (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)
    return float(sim[same].mean() - sim[labels[:, None] != labels[None, :]].mean())


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """4 training texts for each of 6 intents, fine-tuned briefly; 4 held-out texts per intent."""
    train = pd.read_csv(BANKING / "train.csv")
    rows = train[train.category.isin(INTENTS)].groupby("category").sample(8, random_state=0)
    fit, held = rows.groupby("category").head(4), rows.groupby("category").tail(4)
    path = finetune_minilm(
        fit.text.tolist(), fit.category.tolist(), tmp_path_factory.mktemp("ft") / "encoder",
        loss="cosine", pairs_per_text=2, batch_size=8, lr=2e-4, progress=False,
    )
    return path, held


@pytest.fixture(scope="module")
def tuned_encoder(tuned: tuple[Path, pd.DataFrame]) -> Encoder:
    """The fine-tuned folder, loaded once."""
    return Encoder(FineTunedMiniLMBackend(tuned[0]), key="ft")


@pytest.mark.slow
def test_folder_loads_and_encodes_unit_vectors(tuned: tuple[Path, pd.DataFrame], tuned_encoder: Encoder, minilm: Encoder) -> None:
    path, held = tuned
    info = json.loads((path / MANIFEST).read_text())
    assert info["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["digest"] == folder_digest(path)
    assert info["training"]["n_texts"] == 24 and info["training"]["n_labels"] == 6
    enc = tuned_encoder
    vectors = enc.encode(held.text.tolist())
    assert vectors.shape == (len(held), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert enc.name.startswith("all-MiniLM-L6-v2+finetuned:") and enc.name != minilm.name
    assert enc.count_tokens(["my card has not arrived"])[0] > 0


@pytest.mark.slow
def test_an_index_of_the_base_model_is_refused(tuned: tuple[Path, pd.DataFrame], tuned_encoder: Encoder, minilm: Encoder, tmp_path: Path) -> None:
    _, held = tuned
    index = VectorIndex(minilm.name, minilm.dim)
    index.add(np.arange(len(held)), minilm.encode(held.text.tolist()))
    index.save(tmp_path / "index")
    with pytest.raises(IndexMismatchError):
        VectorIndex.load(tmp_path / "index", expect_model=tuned_encoder.name, expect_dim=tuned_encoder.dim)


@pytest.mark.slow
def test_same_intent_texts_move_closer_on_held_out_examples(tuned: tuple[Path, pd.DataFrame], tuned_encoder: Encoder, minilm: Encoder) -> None:
    _, held = tuned  # texts the fine-tune never saw
    labels = held.category.to_numpy()
    before = _margin(minilm.encode(held.text.tolist()), labels)
    after = _margin(tuned_encoder.encode(held.text.tolist()), labels)
    assert after > before + 0.03, (before, after)


@pytest.mark.slow
def test_a_changed_folder_is_refused(tuned: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    path, _ = tuned
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in path.rglob("*"):
        if file.is_file():
            target = copy / file.relative_to(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    with pytest.raises(ValueError, match="digest"):
        FineTunedMiniLMBackend(copy)


def test_pairs_are_setfit_style() -> None:
    labels = ["a"] * 4 + ["b"] * 4 + ["c"]
    cosine = build_pairs(labels, 4, "cosine", random.Random(0))
    assert sum(t == 1.0 for *_, t in cosine) == 8 * 2  # "c" has no partner of its own label
    assert sum(t == 0.0 for *_, t in cosine) == 9 * 2
    assert all((labels[a] == labels[b]) == (t == 1.0) and a != b for a, b, t in cosine)
    mnrl = build_pairs(labels, 3, "mnrl", random.Random(0))
    assert len(mnrl) == 8 * 3 and all(labels[a] == labels[b] and a != b for a, b, _ in mnrl)


def test_bad_training_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two labels"):
        finetune_minilm(["x", "y"], ["a", "a"], tmp_path / "m", progress=False)
    with pytest.raises(ValueError, match="texts but"):
        finetune_minilm(["x", "y"], ["a"], tmp_path / "m", progress=False)
    with pytest.raises(ValueError, match="loss"):
        finetune_minilm(["x", "y", "z"], ["a", "a", "b"], tmp_path / "m", loss="triplet", progress=False)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        finetune_minilm(["x", "y", "z"], ["a", "a", "b"], tmp_path / "taken", progress=False)
