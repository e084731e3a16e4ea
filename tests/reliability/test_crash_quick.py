"""The crash loops at their quick size: runs, jobs and stores SIGKILLed at random moments keep their promises."""

from __future__ import annotations

import pytest

from benchmarks.reliability import crash

pytestmark = pytest.mark.slow


def test_every_quick_crash_loop_keeps_its_promise() -> None:
    checks = crash.run(quick=True)
    assert len(checks) == 6
    failed = [c for c in checks if not c.passed]
    assert not failed, "\n".join(f"{c.name}: {c.outcome}" for c in failed)
    assert all(c.trials > 0 for c in checks)
