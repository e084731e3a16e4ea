"""The methods that decide a label, and METHODS: the one registry the Cascade builds them from.

Each method is a class in its own module here. METHODS maps its name (the name `Cascade(methods=...)`
accepts, that predictions carry in their `method` field and that model.json stores) to the class.
The class's `role` says which step of the Cascade it serves:

    "exact"     decides a text outright on an exact match, before anything else   alias
    "blend"     a learned component: its probabilities join the weighted blend      knn, head, lexical
    "fallback"  decides when there is no training data                              zero-shot

There is one exact and one fallback method; the blend takes any number, in registry order (that
order names the blend, e.g. 'knn+head+lexical').

Adding a method (a blend component)
    1. Write classifiers/methods/<name>.py with a class that has `method = "<name>"`, `role = "blend"`,
       `costly` and the classmethods of BlendMethod in classifiers/methods/component.py: grid() and
       default_params() (its hyper-parameters), fold_proba() (its out-of-fold probabilities on one
       cross-validation split), fit_component() (the final fit) and load_component() (from a saved
       model); the fitted object needs blend_proba() and get_state(). methods/head.py's LexicalHead
       is a short example.
    2. Add one line to METHODS below. The Cascade then accepts the name, tunes the method by
       cross-validation, weighs it in the blend, and save_model/load_model store and rebuild it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autocode.classifiers.methods.alias import AliasClassifier
from autocode.classifiers.methods.head import LexicalHead, LinearHead
from autocode.classifiers.methods.knn import KNNClassifier
from autocode.classifiers.methods.zeroshot import ZeroShotClassifier

METHODS: dict[str, type[Any]] = {
    "alias": AliasClassifier,
    "knn": KNNClassifier,
    "head": LinearHead,
    "lexical": LexicalHead,
    "zero-shot": ZeroShotClassifier,
}


def blend_methods(selected: Sequence[str] | None = None) -> dict[str, type[Any]]:
    """The registered blend methods in registry order, only those named in `selected` when given."""
    return {name: cls for name, cls in METHODS.items() if cls.role == "blend" and (selected is None or name in selected)}
