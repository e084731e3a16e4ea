"""Drafting a codebook from answers, with the real MiniLM encoder, on answers written around four themes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.discover import DiscoverError, Discovery, _distinct, _pick_words, discover, draft_yaml
from autocode.embeddings import Encoder

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "discover_answers.csv"
# Words a person would use to name each theme of the fixture.
THEME_WORDS = {
    "pay": {"pay", "salary", "wages", "raise", "higher", "money"},
    "parking": {"parking", "car", "park", "spaces"},
    "canteen": {"canteen", "food", "lunch", "cafeteria"},
    "remote": {"home", "working", "remote", "remotely", "work"},
}


@pytest.fixture(scope="module")
def answers() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def found(answers: pd.DataFrame, minilm: Encoder) -> Discovery:
    return discover(list(answers["improve"]), minilm)


def _theme_of_code(found: Discovery, answers: pd.DataFrame) -> dict[str, str]:
    """Each drafted code's majority theme, over the fixture's rows."""
    votes: dict[str, Counter[str]] = {}
    for text, theme in zip(answers["improve"], answers["theme"], strict=True):
        code = found.code_of(text)
        if code is not None:
            votes.setdefault(code, Counter())[theme] += 1
    return {code: seen.most_common(1)[0][0] for code, seen in votes.items()}


def _purity(found: Discovery, answers: pd.DataFrame) -> float:
    themed = answers[answers["theme"] != ""]
    majority = _theme_of_code(found, answers)
    hits = sum(majority[found.code_of(t)] == theme for t, theme in zip(themed["improve"], themed["theme"], strict=True))
    return hits / len(themed)


def test_silhouette_finds_the_four_themes_and_the_clusters_recover_them(found: Discovery, answers: pd.DataFrame) -> None:
    assert len(found.codes) == 4, found.rule
    assert max(found.silhouettes, key=found.silhouettes.__getitem__) == 4
    assert set(found.silhouettes) == set(range(2, 21))  # every K tried is kept, to be shown
    assert _purity(found, answers) >= 0.95
    assert sorted(_theme_of_code(found, answers).values()) == ["canteen", "parking", "pay", "remote"]


def test_each_code_is_named_by_its_themes_words(found: Discovery, answers: pd.DataFrame) -> None:
    majority = _theme_of_code(found, answers)
    for draft in found.codes:
        theme = majority[draft.code]
        name_words = {w for term in draft.words[:3] for w in term.split()}
        assert name_words & THEME_WORDS[theme], (draft.code, draft.words, theme)
        assert draft.words[0] in draft.name.casefold()
        # Distinctive: a word that names this code names no other one.
        others = {w for d in found.codes if d is not draft for w in d.words[:3]}
        assert not set(draft.words[:3]) & others


def test_examples_are_the_codes_most_typical_answers(found: Discovery, minilm: Encoder) -> None:
    for draft in found.codes:
        members = [a for a, c in zip(found.answers, found.assigned, strict=True) if c == draft.code]
        assert len(draft.examples) == 5 and set(draft.examples) <= set(members)
        vectors = minilm.encode(members)
        weights = np.asarray([r for r, c in zip(found.rows, found.assigned, strict=True) if c == draft.code], dtype=float)
        centroid = (vectors * weights[:, None]).sum(axis=0)
        centroid /= np.linalg.norm(centroid)
        ranked = [members[i] for i in np.argsort(-(vectors @ centroid), kind="stable")]
        assert list(draft.examples) == ranked[:5]


def test_rows_are_counted_per_distinct_answer_and_blank_rows_left_out(found: Discovery, answers: pd.DataFrame) -> None:
    assert found.skipped == 2  # "" and "-"
    assert sum(found.rows) == len(answers) - 2
    assert sum(d.rows for d in found.codes) == sum(found.rows)
    assert len(found.answers) < sum(found.rows)  # "Better pay" and "better pay" are one answer of two rows
    assert found.rows[found.answers.index("Better pay")] == 2 or found.rows[found.answers.index("better pay")] == 2
    assert [d.rows for d in found.codes] == sorted((d.rows for d in found.codes), reverse=True)


def test_a_fixed_number_of_codes_is_kept(answers: pd.DataFrame, minilm: Encoder) -> None:
    two = discover(list(answers["improve"]), minilm, n_codes=6)
    assert len(two.codes) == 6 and two.silhouettes == {} and "as asked" in two.rule
    assert len({d.code for d in two.codes}) == 6


def test_the_draft_yaml_loads_as_a_codebook_with_descriptions_and_examples(found: Discovery, tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_text(draft_yaml(found, "improve-draft", "Draft codes", source="answers.csv"), encoding="utf-8")
    book = load_codebook(path)
    assert book.id == "improve-draft" and book.codes() == [d.code for d in found.codes]
    for label, draft in zip(book.labels, found.codes, strict=True):
        assert label.examples == list(draft.examples) and draft.words[0] in label.description
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Draft codebook") and "answers.csv" in text
    lines = text.splitlines()
    before = [lines[i - 1] for i, line in enumerate(lines) if line.startswith("- code:")]
    assert len(before) == 4 and all(line.startswith("# ") and " rows (" in line for line in before)


def test_too_few_answers_and_too_many_codes_are_refused(minilm: Encoder) -> None:
    with pytest.raises(DiscoverError, match="only 3 distinct answer"):
        discover(["pay", "Pay", "parking", "food", "", "-"], minilm)
    with pytest.raises(DiscoverError, match="at most 4"):
        discover([f"answer {w}" for w in "abcdefgh"], minilm, n_codes=5)


def test_distinct_keeps_the_commonest_spelling_unit() -> None:
    """Pure bookkeeping: no model."""
    answers, rows, skipped = _distinct(["better pay", "Better pay", "Better pay", " ", "???", "parking"])
    assert answers == ["Better pay", "parking"] and rows == [3, 1] and skipped == 2


def test_pick_words_says_each_word_once_unit() -> None:
    """Pure bookkeeping: no model."""
    vocab = np.array(["home", "working", "working home", "remote"])
    # A phrase whose words are all chosen adds nothing; a phrase chosen first covers its words.
    assert _pick_words(vocab, np.array([0.9, 0.8, 0.7, 0.1]), 3) == ["home", "working", "remote"]
    assert _pick_words(vocab, np.array([0.5, 0.4, 0.9, 0.1]), 3) == ["working home", "remote"]
    # A phrase that adds a word replaces the word it repeats; nothing scored 0 is a name.
    assert _pick_words(vocab, np.array([0.9, 0.0, 0.7, 0.5]), 3) == ["working home", "remote"]
    assert _pick_words(vocab, np.array([0.9, 0.0, 0.0, 0.0]), 3) == ["home"]
