"""Free-text industries -> ISIC and GICS (reviewed term table), and the two sources that need it.

large_employers.csv (boberle/random-items from DBpedia, CC BY 3.0): ~1.5k of the largest employers.
pytickersymbols (MIT): constituents of major stock indices, for big listed companies companies.csv lacks.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from autocode.classifiers.codebook import Codebook

from .common import CROSSWALKS, Geo, Sectors, base_row, host_of, name_forms
from .organisations import read_csv_skip_comments

TERMS = CROSSWALKS / "industry_terms_to_isic_gics.csv"
# Where an index constituent's country cannot be read from its ISIN or its record: the index's home country.
INDEX_HOME = {
    "AEX": "NL", "BEL 20": "BE", "CAC_40": "FR", "CAC Mid 60": "FR", "DAX": "DE", "DOW JONES": "US", "FTSE 100": "GB",
    "IBEX 35": "ES", "MDAX": "DE", "NASDAQ 100": "US", "NIKKEI 225": "JP", "OMX Helsinki 25": "FI",
    "OMX Stockholm 30": "SE", "S&P 100": "US", "S&P 500": "US", "S&P 600": "US", "SDAX": "DE",
    "Switzerland 20": "CH", "TecDAX": "DE",
}
US_STATES = {
    "alabama", "alaska", "arizona", "arkansas", "california", "colorado", "connecticut", "delaware", "florida",
    "georgia", "hawaii", "idaho", "illinois", "indiana", "iowa", "kansas", "kentucky", "louisiana", "maine",
    "maryland", "massachusetts", "michigan", "minnesota", "mississippi", "missouri", "montana", "nebraska", "nevada",
    "new hampshire", "new jersey", "new mexico", "new york", "north carolina", "north dakota", "ohio", "oklahoma",
    "oregon", "pennsylvania", "rhode island", "south carolina", "south dakota", "tennessee", "texas", "utah",
    "vermont", "virginia", "washington", "west virginia", "wisconsin", "wyoming", "district of columbia",
    "puerto rico", "d.c.",
}


class IndustryTerms:
    """The reviewed term table: the longest term found in a text gives ISIC section, division and a GICS code."""

    def __init__(self, gics: Codebook, isic: Codebook, path: Path = TERMS) -> None:
        self.terms: dict[str, tuple[str, str, str]] = {}
        problems = []
        for r in read_csv_skip_comments(path):
            if isic.parent(r["isic_division"]) != r["isic_section"]:
                problems.append(f"{path.name} {r['term']!r}: ISIC {r['isic_section']}/{r['isic_division']}")
            if r["gics_code"] and r["gics_code"] not in gics:
                problems.append(f"{path.name} {r['term']!r}: {r['gics_code']} is not a GICS 2023 code")
            self.terms[r["term"]] = (r["isic_section"], r["isic_division"], r["gics_code"])
        if problems:
            raise SystemExit("industry term problems:\n  " + "\n  ".join(problems))
        longest = sorted(self.terms, key=len, reverse=True)
        self._pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(t) for t in longest) + r")(?![\w-])")

    def lookup(self, text: str) -> tuple[str, str, str, str] | None:
        """(section, division, GICS code, term) for a text, or None where no term is in it."""
        text = " ".join(text.casefold().split())
        if text in self.terms:
            return (*self.terms[text], text)
        found = self._pattern.findall(text)
        if not found:
            return None
        term = max(found, key=len)
        return (*self.terms[term], term)


def apply_gics(row: dict[str, Any], code: str, sectors: Sectors) -> None:
    """Set a row's GICS names (and industry code for a 6-digit code) from a GICS code of any level."""
    if len(code) == 6:
        sectors._use_code(row, code, "")
        return
    names = [sectors.gics.get(c).name for c in sectors.gics.path(code)]
    row["gics_sector"] = names[0]
    if len(names) > 1:
        row["gics_industry_group"] = names[1]


def build_large_employers(path: Path, geo: Geo, sectors: Sectors, terms: IndustryTerms,
                          report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of large_employers.csv with ISIC and GICS from the reviewed term table."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    report["large_employers_read"] = len(raw)
    rows, unmatched = [], Counter()
    for r in raw.itertuples(index=False):
        name = r.name.strip()
        if not name:
            continue
        row = base_row("large_employers", name, r.country, geo.iso2(r.country, "large_employers"), geo)
        hit = terms.lookup(r.industry) if r.industry.strip() else None
        if hit:
            row.update(isic_section=hit[0], isic_division=hit[1], isic_basis=f"industry_term:{hit[3]}")
            if hit[2]:
                apply_gics(row, hit[2], sectors)
        elif r.industry.strip():
            unmatched[r.industry.strip()] += 1
        kept, short = name_forms(name)
        row.update(domain=host_of(r.website) if r.website else "", summary=f"industry: {r.industry.strip()}"
                   if r.industry.strip() else "", _kept=kept, _short=short)
        rows.append(row)
    report["large_employers_industry_without_term"] = dict(unmatched.most_common())
    return rows


def _constituent_country(stock: dict[str, Any], indices: list[str], geo: Geo) -> str:
    isins = stock.get("isins") or []
    if isins and isins[0][:2] in geo.m49:
        return isins[0][:2]
    place = str(stock.get("country") or "")
    code = geo.by_name.get(place.strip().casefold(), "")
    if code:
        return code
    tail = place.rsplit(",", 1)[-1].strip().casefold()
    if tail in US_STATES:
        return "US"
    if geo.by_name.get(tail):
        return geo.by_name[tail]
    homes = {INDEX_HOME[i] for i in indices if i in INDEX_HOME}
    return next(iter(homes)) if len(homes) == 1 else ""


def build_index_constituents(sectors: Sectors, terms: IndustryTerms, geo: Geo,
                             report: dict[str, Any]) -> list[dict[str, Any]]:
    """Stock index constituents from pytickersymbols: GICS names in its industry list first, then the terms."""
    from pytickersymbols import PyTickerSymbols

    data = PyTickerSymbols()
    membership: dict[str, list[str]] = {}
    stocks: dict[str, dict[str, Any]] = {}
    for index in data.get_all_indices():
        for stock in data.get_stocks_by_index(index):
            stocks.setdefault(stock["name"], stock)
            membership.setdefault(stock["name"], []).append(index)
    gics_names = {}
    for code in sectors.gics.codes():
        gics_names.setdefault(sectors.gics.get(code).name.casefold(), code)
    rows, basis = [], Counter()
    for name, stock in stocks.items():
        country = _constituent_country(stock, membership[name], geo)
        row = base_row("index_constituents", name, country, country, geo)
        industries = [str(i) for i in stock.get("industries") or []]
        codes = sorted((gics_names[i.casefold()] for i in industries if i.casefold() in gics_names), key=len)
        if codes:
            code = codes[-1][:6]  # a sub-industry (8 digits) speaks for its industry
            apply_gics(row, code, sectors)
            level = {2: "sector", 4: "industry_group", 6: "industry"}[len(code)]
            mapped = sectors.classify(row["gics_sector"], row["gics_industry_group"], row["gics_industry"])
            row.update(isic_section=mapped["isic_section"], isic_division=mapped["isic_division"],
                       isic_basis=mapped["isic_basis"] or f"gics_{level}")
            basis[f"gics_{level}"] += 1
        else:
            hit = next((h for h in (terms.lookup(i) for i in industries) if h), None)
            if hit:
                row.update(isic_section=hit[0], isic_division=hit[1], isic_basis=f"industry_term:{hit[3]}")
                if hit[2]:
                    apply_gics(row, hit[2], sectors)
                basis["industry_term"] += 1
            else:
                basis["none"] += 1
        website = str((stock.get("metadata") or {}).get("website") or "")
        kept, short = name_forms(name)
        row.update(domain=host_of(website) if website else "", source_id=str(stock.get("symbol") or ""),
                   summary="index constituent: " + ", ".join(membership[name]), _kept=kept, _short=short)
        rows.append(row)
    report["index_constituents_read"] = len(rows)
    report["index_constituents_sector_basis"] = dict(basis)
    return rows
