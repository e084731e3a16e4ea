"""A model folder damaged beside a good model.json is refused with ModelFormatError naming it, not a numpy/json traceback."""

from __future__ import annotations

import pytest

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.model import ModelFormatError, load_model, save_model
from autocode.embeddings import Encoder

pytestmark = pytest.mark.slow

TEXTS = ["they paid all my course fees", "the company covered the full fee", "nothing at all", "no help from work",
         "paid study leave on exam days", "time off to attend class"] * 4
CODES = [["fees_full"], ["fees_full"], ["no_support"], ["no_support"], ["study_time"], ["study_time"]] * 4


@pytest.mark.parametrize(("member", "damage"), [("codebook.json", "truncate"), ("arrays/*.npy", "truncate"),
                                                ("components/*.json", "garbage")])
def test_a_damaged_member_is_refused_naming_the_folder(use_multilingual: Encoder, tmp_path, member: str, damage: str) -> None:
    cascade = Cascade(use_multilingual, load_codebook("employer-support"), n_splits=2).fit(TEXTS, CODES)
    path = save_model(cascade, tmp_path / "model")
    target = sorted(path.glob(member))[0]
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00{not json \xd0\xff")
    with pytest.raises(ModelFormatError, match="corrupt") as refused:
        load_model(path, use_multilingual)
    assert str(path) in str(refused.value)
