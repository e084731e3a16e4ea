"""The clause splitter (classifiers/clauses.py): pure text rules, no model."""

from __future__ import annotations

from autocode.classifiers.clauses import clause_rows, split_clauses


def test_a_comma_and_a_joining_word_split_two_points() -> None:
    assert split_clauses("too expensive, and my students had no cameras") == ["too expensive", "my students had no cameras"]


def test_sentences_semicolons_and_dashes_split() -> None:
    assert split_clauses("I lost my card. Also my transfer failed") == ["I lost my card", "my transfer failed"]
    assert split_clauses("Too slow; the audio kept dropping out - but the teacher was kind") == [
        "Too slow", "the audio kept dropping out", "the teacher was kind"]


def test_and_also_splits_without_a_comma() -> None:
    assert split_clauses("I want to know my balance and also why my card was declined") == [
        "I want to know my balance", "why my card was declined"]


def test_a_plain_and_inside_one_point_does_not_split() -> None:
    assert split_clauses("cats and dogs") == ["cats and dogs"]
    assert split_clauses("The app is great") == ["The app is great"]


def test_one_word_fragments_are_glued_back_and_a_lone_text_comes_back_whole() -> None:
    assert split_clauses("Yes. And") == ["Yes. And"]
    assert split_clauses("black and white, or grey") == ["black and white, or grey"]
    assert split_clauses("") == [""]


def test_clause_rows_lists_only_texts_with_several_clauses_and_their_owner() -> None:
    # "fine" alone is one word: glued to its neighbour, that text has one clause and is left out.
    clauses, owner = clause_rows(["one point only", "too expensive, and no cameras", "fine; thanks a lot", "too late. And rude staff"])
    assert clauses == ["too expensive", "no cameras", "too late", "rude staff"]
    assert owner == [1, 1, 3, 3]
