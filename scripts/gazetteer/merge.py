"""One employer, one record: a source's row that names a record already built is folded into it, not repeated.

A row is matched by its full names (name and kept forms, as match keys) in the same country, or by a shared web
host. A row matching a company held out of the gazetteer is dropped, so no other source brings it back.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from autocode.classifiers.employers.names import match_key

FILLED = ("isic_section", "isic_division", "isic_basis", "gics_sector", "gics_industry_group", "gics_industry",
          "gics_industry_code", "city", "domain")


def full_keys(row: dict[str, Any]) -> set[str]:
    """The match keys of a row's name and kept forms (its full names, not its short forms)."""
    return {k for k in (match_key(t) for t in (row["name"], *row["_kept"])) if k}


def hosts(row: dict[str, Any]) -> set[str]:
    """A row's web hosts."""
    return {h for h in str(row.get("domain", "")).split("|") if h}


def is_held(row: dict[str, Any], held: set[tuple[str, str]], held_anywhere: set[str]) -> bool:
    """Whether a row names a held-out company (a row with no country: in any country)."""
    keys = full_keys(row)
    if not row["country"]:
        return bool(keys & held_anywhere)
    return any((k, row["country"]) in held for k in keys)


class Claims:
    """Index of the records built so far, by (name key, country) and by web host, to fold later rows into."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.by_key: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.by_host: dict[str, set[int]] = defaultdict(set)

    def add(self, row: dict[str, Any], *, by_host: bool = True) -> None:
        """Index `row` (kept by reference: folding edits it in place)."""
        position = len(self.rows)
        self.rows.append(row)
        for key in full_keys(row):
            self.by_key[(key, row["country"])].add(position)
        if by_host:
            for host in hosts(row):
                self.by_host[host].add(position)

    def target(self, row: dict[str, Any], *, keys: set[str] | None = None) -> dict[str, Any] | None:
        """The one record `row` names: same name in its country (or a country-less brand), else same web host."""
        keys = full_keys(row) if keys is None else keys
        found: set[int] = set()
        for key in keys:
            found |= self.by_key.get((key, row["country"]), set()) | self.by_key.get((key, ""), set())
        if len(found) != 1:
            by_host = set().union(*(self.by_host.get(h, set()) for h in hosts(row))) if hosts(row) else set()
            if len(by_host) == 1 and (not found or by_host <= found):
                found = by_host
        return self.rows[next(iter(found))] if len(found) == 1 else None


def fold(target: dict[str, Any], row: dict[str, Any]) -> None:
    """Add `row`'s names to `target`'s aliases and fill the fields `target` lacks."""
    target["_kept"] = [*target["_kept"], row["name"], *row["_kept"]]
    target["_short"] = [*target["_short"], *row["_short"]]
    if not target["isic_division"]:
        for field in FILLED[:7]:
            target[field] = row[field]
    for field in ("city", "domain"):
        if not target[field]:
            target[field] = row[field]
    if not target.get("source_id") and row.get("source_id"):
        target["source_id"] = row["source_id"]


def fold_frame(
    frame: pd.DataFrame, claims: Claims, held: set[tuple[str, str]], report: dict[str, Any], label: str,
    *, keys_of: Any = None,
) -> pd.DataFrame:
    """The rows of `frame` that name no record in `claims` (those that do are folded in; held-out ones dropped)."""
    held_anywhere = {k for k, _ in held}
    kept, folded, dropped = [], 0, 0
    for row in frame.to_dict("records"):
        if is_held(row, held, held_anywhere):
            dropped += 1
            continue
        target = claims.target(row, keys=keys_of(row) if keys_of else None)
        if target is not None:
            fold(target, row)
            folded += 1
        else:
            kept.append(row)
    report[f"{label}_folded_into_existing_records"] = folded
    report[f"{label}_dropped_as_held_out_companies"] = dropped
    return pd.DataFrame(kept, columns=frame.columns)
