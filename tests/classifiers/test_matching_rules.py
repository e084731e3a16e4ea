"""Matching that does not invent (issue 15 item 2): real gazetteer records, real MiniLM encoder, small subset."""

from __future__ import annotations

import pandas as pd
import pytest

from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.classifiers.employers.match import looks_like_code
from autocode.classifiers.employers.resolver import EmployerResolver
from autocode.embeddings import Encoder

pytestmark = pytest.mark.slow

NAMES = ("Silver Airways (3M)", "EMCORE CORP. NEW", "National University of Singapore", "Tata Consultancy Services")


@pytest.fixture(scope="module")
def resolver(minilm: Encoder) -> EmployerResolver:
    """A resolver over the named records plus a few hundred others as distractors."""
    gaz = load_gazetteer()
    named = gaz["name"].isin(NAMES)
    keep = gaz[named]
    assert len(keep) >= 3, keep["name"].tolist()
    rest = gaz[~named].sample(300, random_state=0)
    return EmployerResolver(minilm, pd.concat([keep, rest], ignore_index=True)).fit()


def _kinds(result: object) -> dict[str, str]:
    return {e.kind: e.text for e in result.evidence}  # type: ignore[attr-defined]


def test_code_shape() -> None:
    """Only short capitals-and-digits tokens read as codes."""
    assert looks_like_code("3M") and looks_like_code("NUS") and looks_like_code("N.U.S.")
    assert not looks_like_code("3m") and not looks_like_code("Nus") and not looks_like_code("EMCORE CORP")


def test_airline_code_not_auto_accepted(resolver: EmployerResolver) -> None:
    """'3M' may name the airline whose IATA code is 3M, but it is never auto-accepted as it."""
    (r,) = resolver.resolve(["3M"])
    assert not (r.kind == "match" and r.employer == "Silver Airways (3M)" and not r.needs_review)


def test_lowercase_word_does_not_match_code(resolver: EmployerResolver) -> None:
    """'3m' typed as a word does not match the IATA code."""
    (r,) = resolver.resolve(["3m"])
    assert r.employer != "Silver Airways (3M)"


def test_changed_distinctive_token_goes_to_review(resolver: EmployerResolver) -> None:
    """'Emcor' is another firm than EMCORE: at most a best guess for review."""
    (r,) = resolver.resolve(["Emcor"])
    assert r.needs_review or r.employer != "EMCORE CORP. NEW"


def test_exact_alias_names_itself(resolver: EmployerResolver) -> None:
    """An exact name match is accepted and its evidence names the matched key and its kind."""
    (r,) = resolver.resolve(["EMCORE"])
    assert r.kind == "match" and r.employer == "EMCORE CORP. NEW"
    kinds = _kinds(r)
    assert kinds.get("matched_alias") == "emcore" or kinds.get("matched_name") == "emcore", kinds


def test_acronym_typed_as_one_still_matches(resolver: EmployerResolver) -> None:
    """'NUS' typed as an acronym still finds the National University of Singapore, naming the key it matched."""
    (r,) = resolver.resolve(["NUS"])
    assert r.kind == "match" and r.employer == "National University of Singapore", r
    assert any(k.startswith("matched_") for k in _kinds(r))
