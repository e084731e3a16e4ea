"""Brand records (data/employers/brands.csv, reviewed): one record per multinational brand, with no country.

The Research Organization Registry lists a brand once per country ("Deloitte (Czechia)", "Deloitte Portugal
(Portugal)"): those records are folded into the brand as aliases. A company name the registry lists in three
or more countries and the reviewed list lacks becomes a brand of its own (sector from the name's words, or a
listed company of that name), so the registry's near-duplicates become one record.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.employers.names import match_key, strip_legal_form

from .common import REPO, Geo, Sectors, base_row, name_forms
from .organisations import base_name, read_csv_skip_comments

BRANDS = REPO / "data" / "employers" / "brands.csv"
AUTO_BRAND_MIN_COUNTRIES = 3


def brand_key(name: str, country_names: set[str]) -> str:
    """The key a brand and its per-country registry records share: no "(Country)", legal form or trailing country."""
    key = match_key(strip_legal_form(base_name(name, country_names))[0])
    for country in country_names:
        if key.endswith(" " + country) and len(key) > len(country) + 1:
            return key[: -len(country) - 1]
    return key


def build_brands(geo: Geo, sectors: Sectors, isic: Codebook, report: dict[str, Any],
                 path: Path = BRANDS) -> list[dict[str, Any]]:
    """The reviewed brand rows, with ISIC checked against the codebook and GICS names from the industry code."""
    rows, problems = [], []
    for number, r in enumerate(read_csv_skip_comments(path), start=1):
        where = f"{path.name} row {number} ({r['name']!r})"
        division = r["isic_division"]
        if division not in isic or isic.parent(division) != r["isic_section"]:
            problems.append(f"{where}: ISIC {r['isic_section']}/{division} is not a section and its division")
        code = r["gics_industry_code"]
        if code and (code not in sectors.gics or len(code) != 6):
            problems.append(f"{where}: {code!r} is not a GICS 2023 industry code")
        country = r["country"].strip()
        row = base_row("brands", r["name"], country, country, geo)
        kept, short = name_forms(r["name"])
        aliases = [a.strip() for a in r["aliases"].split("|") if a.strip()]
        row.update(isic_section=r["isic_section"], isic_division=division, isic_basis="reviewed",
                   summary=r["note"], _kept=kept + [a for a in aliases if len(a) > 4], _short=short +
                   [a for a in aliases if len(a) <= 4])
        if code and not problems:
            sectors._use_code(row, code, "")
        rows.append(row)
    if problems:
        raise SystemExit("brand problems:\n  " + "\n  ".join(problems))
    report["brands_reviewed"] = len(rows)
    return rows


def fold_registry_brands(
    brands: list[dict[str, Any]], organisations: list[dict[str, Any]], country_names: set[str],
    companies: list[dict[str, Any]], geo: Geo, report: dict[str, Any],
) -> list[dict[str, Any]]:
    """The organisation rows that are no brand's; brand rows gain the others' names (new brands are appended)."""
    by_key: dict[str, dict[str, Any]] = {}
    for brand in brands:
        if brand["country"]:
            continue
        for text in (brand["name"], *brand["_kept"]):
            by_key.setdefault(brand_key(text, country_names), brand)
    companies_of = [o for o in organisations if "company" in o["_types"]]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for org in companies_of:
        groups[brand_key(org["name"], country_names)].append(org)
    sector_of: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for company in companies:
        if company["isic_division"]:
            sector_of[brand_key(company["name"], country_names)].add((company["isic_section"], company["isic_division"]))
    folded: set[int] = set()
    created = 0
    for key, members in groups.items():
        brand = by_key.get(key)
        if brand is None and key and len({m["country"] for m in members}) >= AUTO_BRAND_MIN_COUNTRIES:
            name = base_name(min((m["name"] for m in members), key=len), country_names)
            brand = base_row("brands", name, "", "", geo)
            kept, short = name_forms(name)
            brand.update(_kept=kept, _short=short, summary="companies of this name in "
                         f"{len({m['country'] for m in members})} countries (Research Organization Registry)")
            known = sector_of.get(key, set())
            named = [m for m in members if m["isic_division"]]
            if len(known) == 1:
                brand["isic_section"], brand["isic_division"] = next(iter(known))
                brand["isic_basis"] = "listed_company"
            elif named:
                for field in ("isic_section", "isic_division", "isic_basis"):
                    brand[field] = named[0][field]
            brands.append(brand)
            created += 1
        if brand is None:
            continue
        for member in members:
            brand["_kept"] = [*brand["_kept"], member["name"], *member["_kept"]]
            brand["_short"] = [*brand["_short"], *member["_short"]]
            brand["domain"] = "|".join(dict.fromkeys([*filter(None, brand["domain"].split("|")),
                                                      *filter(None, member["domain"].split("|"))]))
            folded.add(id(member))
    report["brands_from_registry"] = created
    report["organisations_folded_into_brands"] = len(folded)
    return [o for o in organisations if id(o) not in folded]
