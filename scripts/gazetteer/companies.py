"""Listed companies (JerBouma/FinanceDatabase companies.csv, MIT): sector via the GICS crosswalk."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from autocode.classifiers.employers.holdout import part_of
from autocode.classifiers.employers.names import acronym, match_key, strip_legal_form, strip_listing_noise

from .common import Geo, Sectors, base_row, first_sentence, host_of, name_forms

# Legal forms that exist in one jurisdiction only. Where the source's country is doubtful (copied metadata, or
# no city given) and disagrees, the form wins: the source files ~300 Malaysian "Berhad"/"Bhd" companies under
# the United States, Japan or Taiwan. With a city, the source's country (the head office) is kept.
JURISDICTION_FORMS = {
    "Berhad": "MY", "Bhd": "MY", "Sdn Bhd": "MY", "Tbk": "ID", "PT": "ID", "Persero": "ID",
    "Public Company Limited": "TH", "PCL": "TH", "Oyj": "FI", "Abp": "FI", "(publ)": "SE", "ASA": "NO",
    "A.S.": "TR", "T.A.S.": "TR", "Anonim Sirketi": "TR", "S.p.A.": "IT", "S.A.B. de C.V.": "MX",
    "Q.P.S.C.": "QA", "hf.": "IS", "SOCIMI": "ES", "KGaA": "DE",
}
# A website shared by this many differently named companies marks metadata the source copied onto rows
# that are not that company (247 rows carry rh.com, Corte Madera, "Specialty Retail"): those fields are dropped.
CLONED_SITE_MIN_NAMES = 20


def build_companies(
    path: Path, geo: Geo, sectors: Sectors, report: dict[str, Any]
) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """Listed companies (FinanceDatabase, MIT) of the gazetteer part, and the (name key, ISO2) of those held out.

    Sector via the GICS crosswalk, first sentence of the summary. A company is held out (for calibration and
    tests, `holdout.part_of`) when any of its rows is: another share class must not bring it back.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["part"] = [part_of("companies", f"{n}\x1f{c}") for n, c in zip(raw["name"], raw["country"], strict=True)]
    raw["name"] = raw["name"].str.strip()
    raw = raw[raw["name"] != ""]
    report["companies_read"] = len(raw)
    raw = raw.drop_duplicates(["name", "country"])
    report["companies_exact_duplicates"] = report["companies_read"] - len(raw)
    cloned = _cloned_sites(raw)
    report["companies_cloned_metadata"] = {site: int((raw["website"] == site).sum()) for site in cloned}
    overrides: Counter[str] = Counter()
    rows = []
    for r in raw.itertuples(index=False):
        clone = r.website in cloned
        country = "" if clone and cloned[r.website] else geo.iso2(r.country, "companies")
        forced = next((JURISDICTION_FORMS[f] for f in strip_legal_form(r.name)[1] if f in JURISDICTION_FORMS), "")
        if forced and forced != country and (not country or not r.city.strip()):
            overrides[f"{country or '?'} -> {forced}"] += 1
            country = forced
        row = base_row("companies", r.name, r.country, country, geo)
        if not clone:
            row.update(sectors.classify(r.sector.strip(), r.industry_group.strip(), r.industry.strip()))
            row.update(city=r.city.strip(), domain=host_of(r.website))
        row["summary"] = first_sentence(r.summary)
        kept, short = name_forms(r.name)
        shortest = (short or kept or [r.name])[-1]
        extra = [acronym(r.name)]
        if row["gics_industry"] == "Banks" and not re.search(r"ban[kc]", match_key(r.name)):
            extra.append(f"{shortest} Bank")  # "DBS Group Holdings" is "DBS Bank" to people
        noisy = strip_listing_noise(r.name) != " ".join(r.name.split())
        row.update(
            _kept=kept,
            _short=short + [e for e in extra if e],
            _core=match_key(strip_legal_form(r.name)[0]),
            _shortest=match_key(shortest),
            _secondary=noisy and r.name == r.name.upper(),
            _held=r.part != "gazetteer",
            _score=(
                bool(r.industry), bool(r.industry_group), not noisy, r.name != r.name.upper(), bool(r.summary),
                -len(r.name),
            ),
        )
        rows.append(row)
    # Another share class or a preferred stock of the same company is the same employer: keep its best row.
    rows.sort(key=lambda row: row["_score"], reverse=True)  # stable: ties keep the source's order
    everything = pd.DataFrame(rows)
    held_groups = set(zip(everything.loc[everything["_held"], "_core"], everything.loc[everything["_held"], "country"],
                          strict=True))
    frame = everything.drop_duplicates(["_core", "country"])
    report["companies_security_duplicates"] = len(rows) - len(frame)
    # A secondary listing's abbreviated capitals ("DBS GRP HLDGS  SD 1") repeat a company listed in full.
    secondary = frame["_secondary"]
    primary = set(zip(frame.loc[~secondary, "_shortest"], frame.loc[~secondary, "country"], strict=True))
    repeat = secondary & pd.Series([k in primary for k in zip(frame["_shortest"], frame["country"], strict=True)], index=frame.index)
    frame = frame[~repeat]
    report["companies_secondary_listings"] = int(repeat.sum())
    held = pd.Series([k in held_groups for k in zip(frame["_core"], frame["country"], strict=True)], index=frame.index)
    held_keys = {(match_key(n), c) for n, c in zip(frame.loc[held, "name"], frame.loc[held, "country"], strict=True)}
    held_keys |= {(k, c) for k, c in held_groups}
    for kept, country in zip(frame.loc[held, "_kept"], frame.loc[held, "country"], strict=True):
        held_keys |= {(match_key(k), country) for k in kept}
    frame = frame[~held]
    report["companies_held_out"] = int(held.sum())
    report["companies_without_isic"] = int((frame["isic_division"] == "").sum())
    report["companies_country_from_legal_form"] = dict(overrides.most_common())
    return frame.drop(columns=["_core", "_shortest", "_secondary", "_score", "_held"]), held_keys


def _cloned_sites(raw: pd.DataFrame) -> dict[str, bool]:
    """Websites shared by many differently named companies -> whether their country was copied too (one country)."""
    counts = raw[raw["website"] != ""].groupby("website")["name"].nunique()
    out = {}
    for site in counts[counts >= CLONED_SITE_MIN_NAMES].index:
        countries = raw.loc[raw["website"] == site, "country"].value_counts(normalize=True)
        out[site] = bool(countries.iloc[0] >= 0.9)
    return out


