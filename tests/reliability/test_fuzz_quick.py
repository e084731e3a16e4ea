"""Fuzzing, quick: about 200 schemathesis requests against a real `autocode serve`, with and without keys."""

from __future__ import annotations

import pytest

from benchmarks.reliability import fuzz


def test_scope_rules_match_the_readme() -> None:
    assert fuzz.needed_scope("GET", "/healthz") is None
    assert fuzz.needed_scope("POST", "/v1/classify") == "read"
    assert fuzz.needed_scope("GET", "/v1/records/{record_id}") == "read"
    assert fuzz.needed_scope("DELETE", "/v1/records/{record_id}") == "write"
    assert fuzz.needed_scope("POST", "/v1/codebooks") == "admin"
    assert fuzz.identities_below("write") == [None, "bad", "read"]


@pytest.mark.slow
def test_quick_fuzz_finds_no_5xx_no_off_schema_answer_and_no_scope_leak() -> None:
    checks = fuzz.run(quick=True)
    assert checks[0].trials >= 200
    assert all(c.passed for c in checks), "\n".join(f"{c.name}: {c.outcome}" for c in checks if not c.passed)
