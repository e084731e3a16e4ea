"""Active airlines (OpenFlights airlines.dat, ODbL 1.0): ISIC H/51; alias, IATA and ICAO codes as aliases."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from autocode.classifiers.employers.names import acronym

from .common import Geo, base_row, name_forms, unescape

# OpenFlights rows whose country column holds another field (a comma in the name shifted the columns),
# and one whose "Netherlands Antilles" is Sint Maarten, not Curaçao.
AIRLINE_COUNTRY_FIXES = {"Aires": "CO", "Alaska Airlines": "US", "Dragonair": "HK", "Windward Islands Airways": "SX"}

IATA_RE = re.compile(r"^[A-Z0-9]{2}$")
ICAO_RE = re.compile(r"^[A-Z]{3}$")


def build_airlines(path: Path, geo: Geo, report: dict[str, Any]) -> pd.DataFrame:
    """Active airlines (OpenFlights, ODbL 1.0): ISIC H/51; the source's alias, IATA and ICAO codes as aliases."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["name"] = raw["name"].map(unescape)
    raw = raw[raw["name"] != ""]
    report["airlines_read"] = len(raw)
    raw["iso2"] = [AIRLINE_COUNTRY_FIXES.get(n) or geo.iso2(c, "airlines") for n, c in zip(raw["name"], raw["country"], strict=True)]
    codes: dict[tuple[str, str], list[str]] = defaultdict(list)
    aliases: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in raw.itertuples(index=False):
        key = (r.name, r.iso2)
        aliases[key] += [unescape(r.alias)] if r.alias.strip() else []
        codes[key] += [c for c in (r.iata.strip(), r.icao.strip()) if IATA_RE.match(c) or ICAO_RE.match(c)]
        if r.name in AIRLINE_COUNTRY_FIXES:
            report.setdefault("airline_country_fixes", {})[r.name] = f"{r.country.strip()!r} -> {r.iso2}"
    raw = raw.drop_duplicates(["name", "iso2"])
    report["airlines_duplicates"] = report["airlines_read"] - len(raw)
    rows = []
    for r in raw.itertuples(index=False):
        row = base_row("airlines", r.name, r.country, r.iso2, geo)
        kept, short = name_forms(r.name)
        acro = acronym(r.name)
        row.update(
            isic_section="H", isic_division="51", isic_basis="source",
            _kept=aliases[(r.name, r.iso2)] + kept, _short=short + ([acro] if acro else []) + codes[(r.name, r.iso2)],
        )
        rows.append(row)
    return pd.DataFrame(rows)


