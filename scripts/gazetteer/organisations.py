"""Research Organization Registry records (organisations.csv, CC0): types -> ISIC via a reviewed table.

Withdrawn and inactive records are never matched as live: where a live record has the same web host, or the
same name in the same country, their names become that record's aliases; otherwise they are dropped. Only
records of the "gazetteer" part (holdout.part_of("organisations", ror_id)) are used.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from autocode.classifiers.employers.holdout import part_of
from autocode.classifiers.employers.infer import keyword_hits

from .common import CROSSWALKS, Geo, base_row, host_of, name_forms

MAX_ALIASES = 12  # the registry's longest alias lists are translations into many languages; enough to match
_PARENS = re.compile(r"\s*\(([^()]*)\)\s*$")


@dataclass(frozen=True)
class TypeRule:
    """One ROR type's ISIC section and division, and its priority among a record's types (lower wins)."""

    priority: int
    section: str
    division: str


def load_type_rules(path: Path = CROSSWALKS / "ror_types_to_isic.csv") -> dict[str, TypeRule]:
    """The reviewed ROR type -> ISIC table (data/crosswalks/ror_types_to_isic.csv)."""
    rows = read_csv_skip_comments(path)
    return {r["type"]: TypeRule(int(r["priority"]), r["isic_section"], r["isic_division"]) for r in rows}


def read_csv_skip_comments(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows, lines starting with '#' skipped."""
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def section_of(types: list[str], name: str, rules: dict[str, TypeRule]) -> tuple[str, str, str]:
    """(ISIC section, division, basis) of a record from its types; companies and 'other' from their name's words."""
    known = sorted((rules[t].priority, t) for t in types if t in rules)
    if known and rules[known[0][1]].section:
        rule = rules[known[0][1]]
        return rule.section, rule.division, f"ror_type:{known[0][1]}"
    hits = keyword_hits(name)
    sections = {s for _, s, _ in hits}
    if len(sections) == 1:
        return hits[0][1], hits[0][2], "name_words"
    return "", "", ""


def base_name(name: str, country_names: set[str]) -> str:
    """The name without ROR's trailing "(Country)" disambiguator ("Deloitte (Czechia)" -> "Deloitte")."""
    match = _PARENS.search(name)
    if match and match.group(1).casefold() in country_names:
        return name[: match.start()].strip()
    return name


def _split(cell: str) -> list[str]:
    return [v.strip() for v in cell.split("|") if v.strip()]


def read_organisations(path: Path) -> pd.DataFrame:
    """organisations.csv as text; a ROR v2 JSON dump (.json or .zip) is converted to the same columns."""
    if path.suffix in {".json", ".zip"}:
        from .ror_dump import read_ror_dump

        return read_ror_dump(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def build_organisations(path: Path, geo: Geo, report: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(live records of the gazetteer part, held-out records) from a ROR extract; held-out rows carry name keys only."""
    rules = load_type_rules()
    raw = read_organisations(path)
    report["organisations_read"] = len(raw)
    raw["part"] = [part_of("organisations", i) for i in raw["ror_id"]]
    held = raw[raw["part"] != "gazetteer"]
    raw = raw[raw["part"] == "gazetteer"]
    report["organisations_held_out"] = len(held)
    unknown = Counter(t for cell in raw["types"] for t in _split(cell) if t not in rules)
    if unknown:
        report["organisations_unknown_types"] = dict(unknown)
    live = raw[raw["status"] == "active"]
    dead = raw[raw["status"] != "active"]
    successor = _successors(live, dead)
    extra_aliases: dict[str, list[str]] = defaultdict(list)
    for rid, target in successor.items():
        row = dead[dead["ror_id"] == rid].iloc[0]
        extra_aliases[target] += [row["name"], *_split(row["aliases"])]
    report["organisations_retired_as_alias_of_successor"] = len(successor)
    report["organisations_retired_dropped"] = len(dead) - len(successor)
    rows = []
    for r in live.itertuples(index=False):
        types = _split(r.types)
        section, division, basis = section_of(types, r.name, rules)
        row = base_row("organisations", r.name, r.ror_id, r.country_code.strip().upper(), geo)
        hosts = list(dict.fromkeys(_split(r.domains) + ([host_of(r.website)] if r.website else [])))
        kept, short = name_forms(r.name)
        aliases = (_split(r.aliases) + extra_aliases.get(r.ror_id, []))[:MAX_ALIASES]
        row.update(
            isic_section=section, isic_division=division, isic_basis=basis, city=r.city.strip(),
            domain="|".join(h for h in hosts if h), source_id=r.ror_id, summary="ROR types: " + ", ".join(types),
            _kept=aliases + kept, _short=short + _split(r.acronyms), _types=types,
        )
        rows.append(row)
    report["organisations_without_isic"] = sum(1 for row in rows if not row["isic_division"])
    return pd.DataFrame(rows), held


def _successors(live: pd.DataFrame, dead: pd.DataFrame) -> dict[str, str]:
    """Retired ROR id -> the live record with its web host, or else its name (or alias) in the same country."""
    by_host: dict[str, set[str]] = defaultdict(set)
    by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    from autocode.classifiers.employers.names import match_key

    for r in live.itertuples(index=False):
        for host in _split(r.domains) + ([host_of(r.website)] if r.website else []):
            if host:
                by_host[host].add(r.ror_id)
        for name in [r.name, *_split(r.aliases)]:
            by_name[(match_key(name), r.country_code)].add(r.ror_id)
    out = {}
    for r in dead.itertuples(index=False):
        hosts = [h for h in _split(r.domains) + ([host_of(r.website)] if r.website else []) if h]
        candidates = set().union(*(by_host[h] for h in hosts)) if hosts else set()
        if len(candidates) != 1:
            names = [r.name, *_split(r.aliases)]
            candidates = set().union(*(by_name[(match_key(n), r.country_code)] for n in names))
        if len(candidates) == 1:
            out[r.ror_id] = next(iter(candidates))
    return out
