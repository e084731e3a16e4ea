"""What every source builder shares: countries (Geo), GICS/ISIC sectors (Sectors), record ids and name helpers."""

from __future__ import annotations

import csv
import functools
import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.employers.names import match_key, name_variants, strip_legal_form, strip_listing_noise

REPO = Path(__file__).resolve().parents[2]
CROSSWALKS = REPO / "data" / "crosswalks"
SUMMARY_LIMIT = 200

# Country names in the sources that the m49 codebook does not know (ISO 3166 long forms, old names).
COUNTRY_FIXES = {
    "Netherlands Antilles": "CW",  # dissolved in 2010; Curaçao held its seat and most of its companies
    "Congo (Kinshasa)": "CD",
    "Congo": "CG",
    "Congo, the Democratic Republic of the": "CD",
    "Korea, Republic of": "KR",
    "Venezuela, Bolivarian Republic of": "VE",
    "Bolivia, Plurinational State of": "BO",
    "Tanzania, United Republic of": "TZ",
    "Palestine, State of": "PS",
    "Moldova, Republic of": "MD",
    "Holy See (Vatican City State)": "VA",
}
# OpenFlights rows whose country column holds another field (a comma in the name shifted the columns),

# --- countries -----------------------------------------------------------------------------------


class Geo:
    """ISO2 codes for the sources' country names, and the M49 region and sub-region of each code."""

    def __init__(self, m49: Codebook) -> None:
        self.m49 = m49
        self.by_name: dict[str, str] = {}
        for code in m49.codes():
            if len(code) == 2 and code.isalpha():
                label = m49.get(code)
                for name in (label.name, *label.aliases):
                    self.by_name.setdefault(name.casefold(), code)
        self.unmapped: Counter[tuple[str, str]] = Counter()

    def iso2(self, name: str, source: str) -> str:
        """ISO2 for a country name; counts the names it cannot map."""
        name = name.strip()
        code = self.by_name.get(name.casefold(), "")
        if not code and name:
            self.unmapped[(source, name)] += 1  # reported even when COUNTRY_FIXES knows it
            code = COUNTRY_FIXES.get(name, "")
        return code

    @functools.cache  # noqa: B019 - one Geo lives for the whole build, so the cache holding it costs nothing
    def place(self, iso2: str) -> tuple[str, str]:
        """(region, sub-region) names from the m49 path; empty for Antarctica or an unknown code."""
        if iso2 not in self.m49:
            return "", ""
        path = self.m49.path(iso2)
        names = [self.m49.get(code).name for code in path[:-1]]
        return (names[0] if names else ""), (names[1] if len(names) > 1 else "")



# --- sectors -------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Sectors:
    """GICS names (2023 or the source's older ones) -> GICS 2023 codes and ISIC Rev.4 section and division."""

    def __init__(self, gics: Codebook, isic: Codebook, crosswalks: Path = CROSSWALKS) -> None:
        self.gics = gics
        problems: list[str] = []
        self.by_industry: dict[str, tuple[str, str]] = {}
        for row in read_csv(crosswalks / "gics_industry_to_isic.csv"):
            code = row["gics_industry_code"]
            problems += check_isic(isic, row, f"gics_industry_to_isic.csv {code}")
            if code not in gics or len(code) != 6:
                problems.append(f"gics_industry_to_isic.csv: {code} is not a GICS 2023 industry")
            elif gics.get(code).name != row["gics_industry_name"]:
                actual, given = gics.get(code).name, row["gics_industry_name"]
                problems.append(f"gics_industry_to_isic.csv: {code} is {actual!r}, not {given!r}")
            self.by_industry[code] = (row["isic_section"], row["isic_division"])
        missing = [c for c in gics.codes() if len(c) == 6 and c not in self.by_industry]
        if missing:
            problems.append(f"gics_industry_to_isic.csv misses GICS industries {missing}")
        # (level, name) -> (GICS 2023 code or "", ISIC section, division); 2023 names first, then the table.
        self.by_name: dict[tuple[str, str], tuple[str, str, str]] = {}
        for code in gics.codes():
            if len(code) == 6:
                self.by_name[("industry", gics.get(code).name)] = (code, *self.by_industry.get(code, ("", "")))
        width = {"sector": 2, "industry_group": 4, "industry": 6}
        for row in read_csv(crosswalks / "gics_names_to_isic.csv"):
            level, name, code = row["level"], row["name"], row["gics_code"]
            where = f"gics_names_to_isic.csv {level} {name!r}"
            problems += check_isic(isic, row, where)
            if level not in width:
                problems.append(f"{where}: unknown level")
            elif code and (code not in gics or len(code) != width[level]):
                problems.append(f"{where}: {code} is not a GICS 2023 {level}")
            self.by_name[(level, name)] = (code, row["isic_section"], row["isic_division"])
        if problems:
            raise SystemExit("crosswalk problems:\n  " + "\n  ".join(problems))
        self.hierarchy_conflicts = 0

    def classify(self, sector: str, group: str, industry: str) -> dict[str, str]:
        """GICS names and code, and ISIC section, division and basis, from the most specific level known."""
        out = dict.fromkeys(["gics_industry_code", "isic_section", "isic_division", "isic_basis"], "")
        out["gics_sector"], out["gics_industry_group"], out["gics_industry"] = sector, group, industry
        for level, name in (("industry", industry), ("industry_group", group), ("sector", sector)):
            if name and (level, name) in self.by_name:
                code, out["isic_section"], out["isic_division"] = self.by_name[(level, name)]
                out["isic_basis"] = f"gics_{level}"
                if code:
                    self._use_code(out, code, sector)
                break
        return out

    def _use_code(self, out: dict[str, str], code: str, source_sector: str) -> None:
        # The code's own path wins over the source's names, so names and code always agree.
        path = self.gics.path(code)
        names = [self.gics.get(c).name for c in path]
        if source_sector and names[0] != source_sector:
            self.hierarchy_conflicts += 1
        out["gics_sector"] = names[0]
        if len(path) >= 2:
            out["gics_industry_group"] = names[1]
        if len(path) >= 3:
            out["gics_industry"], out["gics_industry_code"] = names[2], code


def check_isic(isic: Codebook, row: dict[str, str], where: str) -> list[str]:
    section, division = row["isic_section"], row["isic_division"]
    if division not in isic or len(division) != 2:
        return [f"{where}: {division!r} is not an ISIC Rev.4 division"]
    if isic.parent(division) != section:
        return [f"{where}: ISIC division {division} belongs to section {isic.parent(division)}, not {section}"]
    return []


# --- small text helpers ----------------------------------------------------------------------------


def record_id(source: str, name: str, country: str) -> int:
    """Stable 62-bit id from (source, name, the source's own country text): same inputs, same id, every build."""
    digest = hashlib.blake2b(f"{source}\x1f{name}\x1f{country}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2


_SENTENCE_END = re.compile(r"(?<=[a-z0-9)])\.\s+(?=[A-Z])")


def first_sentence(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """The first sentence of a summary, cut at a word boundary to at most `limit` characters."""
    text = " ".join(text.split())
    end = _SENTENCE_END.search(text)
    if end:
        text = text[: end.start() + 1]
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return text


def host_of(url: str) -> str:
    """The host of a website URL without scheme, path or a leading www."""
    host = re.sub(r"^[a-z]+://", "", url.strip().casefold()).split("/")[0].split(":")[0]
    return host[4:] if host.startswith("www.") else host


def unescape(text: str) -> str:
    # OpenFlights escapes apostrophes as backslashes in a few names ("Tom\\'s").
    return re.sub(r"\\+'", "'", text).strip()


def name_forms(name: str) -> tuple[list[str], list[str]]:
    """(kept, short): the name without noise and legal forms (always kept), and shorter derived forms."""
    noise_free = strip_listing_noise(name)
    core, _ = strip_legal_form(name)
    full = {match_key(noise_free), match_key(core), match_key(re.sub(r"\s*\([^()]*\)", "", core))}
    kept, short = [], []
    for variant in name_variants(name):
        (kept if match_key(variant) in full else short).append(variant)
    return kept, short



def base_row(source: str, name: str, raw_country: str, country: str, geo: Geo) -> dict[str, Any]:
    """A gazetteer row with its id, name, legal forms, country and M49 place; every other field empty."""
    region, subregion = geo.place(country)
    return {
        "record_id": record_id(source, name, raw_country),
        "name": name,
        "legal_forms": strip_legal_form(name)[1],
        "source": source,
        "country": country,
        "region": region,
        "subregion": subregion,
        "city": "",
        "domain": "",
        "summary": "",
        "source_id": "",
        "gics_sector": "",
        "gics_industry_group": "",
        "gics_industry": "",
        "gics_industry_code": "",
        "isic_section": "",
        "isic_division": "",
        "isic_basis": "",
    }

