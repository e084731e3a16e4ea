"""Multi-label with a code hierarchy: when no child is certain but together they are, the parent is coded, for review."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import parse_codebook
from autocode.classifiers.label_sets import parent_groups, uncertain_parents
from autocode.embeddings import Encoder
from benchmarks.multilabel import join_pairs

BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # the CC BY 4.0 subset in tests/data
GROUPS = {"card": ["card_arrival", "card_linking", "lost_or_stolen_card"], "pin": ["change_pin", "pin_blocked"]}


@pytest.fixture(scope="module")
def cascade(minilm: Encoder) -> Cascade:
    train = pd.read_csv(BANKING / "train.csv")
    parent = {c: p for p, cs in GROUPS.items() for c in cs}
    labels = [{"code": p, "name": f"{p} problems"} for p in GROUPS] + [
        {"code": c, "name": c.replace("_", " "), **({"parent": parent[c]} if c in parent else {})} for c in sorted(train.category.unique())]
    book = parse_codebook({"id": "banking-tree", "name": "banking tree", "version": "1", "multi_label": True, "labels": labels})
    return Cascade(minilm, book, multi_label=True).fit(*join_pairs(train, seed=0))


def test_a_vague_answer_gets_the_parent_for_review(cascade: Cascade) -> None:
    p = cascade.predict(["Something is wrong with my card"])[0]
    assert p.codes == ("card",) and p.needs_review and p.method.endswith("/parent"), p
    assert "backed off to parent 'card'" in p.reason
    children = [p.scores.get(c, 0.0) for c in GROUPS["card"]]
    assert max(children) < cascade.label_threshold_  # no child alone was sure enough


def test_a_clear_child_is_coded_itself(cascade: Cascade) -> None:
    p = cascade.predict(["My card still hasn't arrived"])[0]
    assert p.codes == ("card_arrival",) and p.method == cascade.method_name, p


def test_uncertain_parents_needs_joint_evidence_and_no_chosen_child() -> None:
    """Pure bookkeeping on hand-made scores: columns 0-1 are children of P, column 2 a root."""
    groups = parent_groups(["a", "b", "c"], {"a": "P", "b": "P", "c": None})
    assert [(p, cols.tolist()) for p, cols in groups] == [("P", [0, 1])]
    proba = np.array([[0.3, 0.3, 0.0], [0.1, 0.1, 0.9], [0.6, 0.3, 0.0]])
    chosen = proba >= 0.45
    # Row 0: 1 - 0.7 * 0.7 = 0.51 clears 0.45; row 1: 0.19 does not; row 2: child 'a' is already chosen.
    assert uncertain_parents(proba, chosen, groups, 0.45) == [["P"], [], []]
