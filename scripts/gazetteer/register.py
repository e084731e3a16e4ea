"""A user's own register CSV (`--extra FILE`): one employer a row, read through a documented column mapping.

Columns (header names; rename yours with --map field=column): name (required), country (ISO2 or a country
name), aliases ("|"-separated), isic_section, isic_division, gics_industry_code, city, domain, id.
A row without a name, or with a country or code that cannot be read, is dropped and counted with its reason.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from autocode.classifiers.codebook import Codebook

from .common import Geo, Sectors, base_row, name_forms

FIELDS = ("name", "country", "aliases", "isic_section", "isic_division", "gics_industry_code", "city", "domain", "id")


def build_register(path: Path, mapping: dict[str, str], geo: Geo, sectors: Sectors, isic: Codebook,
                   report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a register CSV; report[register_*] counts rows read, kept and dropped (with reasons)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    column = {f: mapping.get(f, f) for f in FIELDS}
    if column["name"] not in raw:
        raise SystemExit(f"{path}: no column {column['name']!r} for the name (use --map name=COLUMN)")
    dropped: Counter[str] = Counter()
    rows = []
    for number, r in enumerate(raw.to_dict("records"), start=2):
        value = {f: str(r.get(c, "")).strip() for f, c in column.items()}
        if not value["name"]:
            dropped["no name"] += 1
            continue
        country = value["country"].upper() if value["country"].upper() in geo.m49 else geo.iso2(value["country"], "register")
        if value["country"] and not country:
            dropped[f"country not known (e.g. line {number}: {value['country']!r})"] += 1
            continue
        section, division = value["isic_section"].upper(), value["isic_division"]
        if division and (division not in isic or len(division) != 2 or (section and isic.parent(division) != section)):
            dropped[f"bad ISIC division (e.g. line {number}: {division!r})"] += 1
            continue
        code = value["gics_industry_code"]
        if code and (code not in sectors.gics or len(code) != 6):
            dropped[f"bad GICS industry code (e.g. line {number}: {code!r})"] += 1
            continue
        row = base_row("register", value["name"], value["country"], country, geo)
        if code:
            sectors._use_code(row, code, "")
            if not division:
                mapped = sectors.by_industry.get(code)
                section, division = mapped if mapped else ("", "")
        if division:
            row.update(isic_section=isic.parent(division), isic_division=division, isic_basis="register")
        kept, short = name_forms(value["name"])
        aliases = [a.strip() for a in value["aliases"].split("|") if a.strip()]
        row.update(city=value["city"], domain=value["domain"], source_id=value["id"], _kept=kept + aliases,
                   _short=short)
        rows.append(row)
    report["register_read"] = len(raw)
    report["register_kept"] = len(rows)
    report["register_dropped"] = dict(dropped)
    return rows
