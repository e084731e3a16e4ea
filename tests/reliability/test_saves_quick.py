"""The saves at their quick size: saves SIGKILLed mid-write leave the old or the new version; broken folders are refused."""

from __future__ import annotations

import pytest

from benchmarks.reliability import saves

pytestmark = pytest.mark.slow


def test_every_quick_save_check_keeps_its_promise() -> None:
    checks = saves.run(quick=True)
    failed = [c for c in checks if not c.passed]
    assert not failed, "\n".join(f"{c.name}: {c.outcome}" for c in failed)  # a part that raised is a failed row
    assert len(checks) == 8  # four artefacts: killed saves, then hand-broken folders
