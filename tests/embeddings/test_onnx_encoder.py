"""The ONNX MiniLM path: the same vectors as sentence-transformers, int8 close to them, no torch, a checked export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autocode.embeddings import Encoder, VectorIndex, get_encoder
from autocode.embeddings.index import IndexMismatchError
from autocode.embeddings.onnx_export import MANIFEST, ExportError, checked, ensure_export

TEXTS = [
    "DBS Bank", "National University of Singapore", "tata consultancy", "Ministry of Education", "国立台湾大学",
    "they paid half my course fee but not my study time", "",
    # Longer than the model's 256-token window: both paths must cut it at the same token.
    " ".join(f"sentence {i} of the annual report on training support and course fees" for i in range(60)),
]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return get_encoder("minilm-torch").encode(TEXTS)


def test_onnx_fp32_gives_sentence_transformers_vectors(minilm: Encoder, torch_vectors: np.ndarray) -> None:
    cos = (minilm.encode(TEXTS) * torch_vectors).sum(axis=1)
    assert cos.min() > 0.99999, cos
    assert minilm.name == get_encoder("minilm-torch").name  # one model name: their indexes are interchangeable


def test_int8_stays_close_to_fp32(torch_vectors: np.ndarray) -> None:
    int8 = get_encoder("minilm-int8")
    cos = (int8.encode(TEXTS) * torch_vectors).sum(axis=1)
    assert cos.min() > 0.97 and cos.mean() > 0.985, cos
    assert int8.count_tokens(["DBS Bank"]) == get_encoder("minilm-torch").count_tokens(["DBS Bank"])


def test_an_index_built_with_one_encoder_refuses_the_other(minilm: Encoder, tmp_path: Path) -> None:
    int8 = get_encoder("minilm-int8")
    index = VectorIndex(int8.name, int8.dim, kind="flat")
    index.add(np.arange(3), int8.encode(TEXTS[:3]))
    index.save(tmp_path / "index")
    with pytest.raises(IndexMismatchError):
        VectorIndex.load(tmp_path / "index", expect_model=minilm.name, expect_dim=minilm.dim)
    assert len(VectorIndex.load(tmp_path / "index", expect_model=int8.name, expect_dim=int8.dim)) == 3


def test_the_fast_path_imports_no_torch() -> None:
    code = ("import sys\nfrom autocode.embeddings import get_encoder\n"
            "v = get_encoder('minilm').encode(['DBS Bank'])\nassert v.shape == (1, 384)\n"
            "print('TORCH', 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "TORCH False False" in out.stdout


def test_a_damaged_export_is_named(tmp_path: Path) -> None:
    good = ensure_export(quiet=True)
    assert checked(good)["files"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MANIFEST).write_text(json.dumps({"format_version": 1, "files": {"model.onnx": 10}}), encoding="utf-8")
    (broken / "model.onnx").write_bytes(b"short")
    with pytest.raises(ExportError, match=r"model\.onnx: missing or not 10 bytes"):
        checked(broken)
    (broken / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(ExportError, match="not valid JSON"):
        checked(broken)
