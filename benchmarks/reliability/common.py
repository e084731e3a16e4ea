"""One line of the reliability table, and how the table is printed (shared by every part)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Check:
    """What one reliability check did: how many trials, how many failed, and what it means."""

    part: str  # "crash loops", "saves", "hostile files", "fuzzing", "soak", "security"
    name: str  # e.g. "autocode code, 100k rows, SIGKILL at random moments, resumed"
    trials: int  # kills, files, requests, minutes...
    failures: int  # trials whose outcome broke the promise
    outcome: str  # what was observed, in words and figures
    seconds: float = 0.0  # wall time of the check

    @property
    def passed(self) -> bool:
        """No trial broke the promise."""
        return self.failures == 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {**asdict(self), "passed": self.passed}


def print_table(checks: list[Check]) -> None:
    """The checks as a Markdown table (pastes into the README as is)."""
    print("| part | check | trials | failures | outcome | s |")
    print("|---|---|---|---|---|---|")
    for c in checks:
        fails = str(c.failures) if c.passed else f"**{c.failures}**"
        print(f"| {c.part} | {c.name} | {c.trials:,} | {fails} | {c.outcome} | {c.seconds:.0f} |")
