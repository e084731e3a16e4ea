"""The method registry lists exactly the shipped methods."""

from __future__ import annotations

from autocode.classifiers.cascade import DEFAULT_METHODS
from autocode.classifiers.methods import METHODS, blend_methods


def test_registry_lists_exactly_the_shipped_methods() -> None:
    assert list(METHODS) == ["alias", "knn", "head", "lexical", "zero-shot"]
    # The registry name is the one predictions carry in `method` and model.json stores.
    assert all(cls.method == name for name, cls in METHODS.items())
    assert {name: cls.role for name, cls in METHODS.items()} == {
        "alias": "exact", "knn": "blend", "head": "blend", "lexical": "blend", "zero-shot": "fallback",
    }
    assert list(blend_methods()) == ["knn", "head", "lexical"]
    assert list(blend_methods(("lexical", "alias", "knn"))) == ["knn", "lexical"]  # registry order, blend only
    assert DEFAULT_METHODS == tuple(METHODS)
