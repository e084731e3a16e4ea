"""Build the reference gazetteer (companies, universities, airlines) from the shared reference data.

    python scripts/build_gazetteer.py [--shared ../shared/data] [--out data/gazetteer] [--check]

Writes companies.parquet, universities.parquet and airlines.parquet (zstd) with one schema
(autocode.classifiers.employers.gazetteer.SCHEMA). Sectors come from data/crosswalks/ (GICS industry -> ISIC Rev.4, plus the
source's older GICS names); countries are mapped to ISO2 through the m49 codebook and a small table of
fixes below. airlines.parquet derives from OpenFlights (ODbL 1.0) and is kept apart so its terms stay
with it alone. --check rebuilds in memory and fails if the committed files differ from the rebuild.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from autocode.classifiers.codebook import Codebook, load_codebook  # noqa: E402
from autocode.classifiers.employers.gazetteer import COLUMNS, LIST_COLUMNS, SCHEMA, SOURCES  # noqa: E402
from autocode.classifiers.employers.names import (  # noqa: E402
    acronym,
    domain_stem,
    match_key,
    name_variants,
    strip_legal_form,
    strip_listing_noise,
    unique_by_key,
)
from autocode.embeddings.durable import atomic_file  # noqa: E402

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
# and one whose "Netherlands Antilles" is Sint Maarten, not Curaçao.
AIRLINE_COUNTRY_FIXES = {"Aires": "CO", "Alaska Airlines": "US", "Dragonair": "HK", "Windward Islands Airways": "SX"}

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

IATA_RE = re.compile(r"^[A-Z0-9]{2}$")
ICAO_RE = re.compile(r"^[A-Z]{3}$")


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


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Sectors:
    """GICS names (2023 or the source's older ones) -> GICS 2023 codes and ISIC Rev.4 section and division."""

    def __init__(self, gics: Codebook, isic: Codebook, crosswalks: Path = CROSSWALKS) -> None:
        self.gics = gics
        problems: list[str] = []
        self.by_industry: dict[str, tuple[str, str]] = {}
        for row in _read_csv(crosswalks / "gics_industry_to_isic.csv"):
            code = row["gics_industry_code"]
            problems += _check_isic(isic, row, f"gics_industry_to_isic.csv {code}")
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
        for row in _read_csv(crosswalks / "gics_names_to_isic.csv"):
            level, name, code = row["level"], row["name"], row["gics_code"]
            where = f"gics_names_to_isic.csv {level} {name!r}"
            problems += _check_isic(isic, row, where)
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


def _check_isic(isic: Codebook, row: dict[str, str], where: str) -> list[str]:
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


def _unescape(text: str) -> str:
    # OpenFlights escapes apostrophes as backslashes in a few names ("Tom\\'s").
    return re.sub(r"\\+'", "'", text).strip()


def _name_forms(name: str) -> tuple[list[str], list[str]]:
    """(kept, short): the name without noise and legal forms (always kept), and shorter derived forms."""
    noise_free = strip_listing_noise(name)
    core, _ = strip_legal_form(name)
    full = {match_key(noise_free), match_key(core), match_key(re.sub(r"\s*\([^()]*\)", "", core))}
    kept, short = [], []
    for variant in name_variants(name):
        (kept if match_key(variant) in full else short).append(variant)
    return kept, short


# --- the three sources -------------------------------------------------------------------------------


def _base(source: str, name: str, raw_country: str, country: str, geo: Geo) -> dict[str, Any]:
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
        "gics_sector": "",
        "gics_industry_group": "",
        "gics_industry": "",
        "gics_industry_code": "",
        "isic_section": "",
        "isic_division": "",
        "isic_basis": "",
    }


def build_companies(path: Path, geo: Geo, sectors: Sectors, report: dict[str, Any]) -> pd.DataFrame:
    """Listed companies (FinanceDatabase, MIT): sector via the GICS crosswalk, first sentence of the summary."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
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
        row = _base("companies", r.name, r.country, country, geo)
        if not clone:
            row.update(sectors.classify(r.sector.strip(), r.industry_group.strip(), r.industry.strip()))
            row.update(city=r.city.strip(), domain=host_of(r.website))
        row["summary"] = first_sentence(r.summary)
        kept, short = _name_forms(r.name)
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
            _score=(
                bool(r.industry), bool(r.industry_group), not noisy, r.name != r.name.upper(), bool(r.summary),
                -len(r.name),
            ),
        )
        rows.append(row)
    # Another share class or a preferred stock of the same company is the same employer: keep its best row.
    rows.sort(key=lambda row: row["_score"], reverse=True)  # stable: ties keep the source's order
    frame = pd.DataFrame(rows).drop_duplicates(["_core", "country"])
    report["companies_security_duplicates"] = len(rows) - len(frame)
    # A secondary listing's abbreviated capitals ("DBS GRP HLDGS  SD 1") repeat a company listed in full.
    secondary = frame["_secondary"]
    primary = set(zip(frame.loc[~secondary, "_shortest"], frame.loc[~secondary, "country"], strict=True))
    repeat = secondary & pd.Series([k in primary for k in zip(frame["_shortest"], frame["country"], strict=True)], index=frame.index)
    frame = frame[~repeat]
    report["companies_secondary_listings"] = int(repeat.sum())
    report["companies_without_isic"] = int((frame["isic_division"] == "").sum())
    report["companies_country_from_legal_form"] = dict(overrides.most_common())
    return frame.drop(columns=["_core", "_shortest", "_secondary", "_score"])


def _cloned_sites(raw: pd.DataFrame) -> dict[str, bool]:
    """Websites shared by many differently named companies -> whether their country was copied too (one country)."""
    counts = raw[raw["website"] != ""].groupby("website")["name"].nunique()
    out = {}
    for site in counts[counts >= CLONED_SITE_MIN_NAMES].index:
        countries = raw.loc[raw["website"] == site, "country"].value_counts(normalize=True)
        out[site] = bool(countries.iloc[0] >= 0.9)
    return out


def build_universities(path: Path, geo: Geo, report: dict[str, Any]) -> pd.DataFrame:
    """Universities (Hipo university-domains-list, MIT): ISIC P/85; domain stems as short forms."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["name"] = raw["name"].str.strip()
    raw = raw[raw["name"] != ""]
    report["universities_read"] = len(raw)
    # The ISO2 column is the source's own; the name is only a fallback ("Viet Nam" and "Vietnam" are one VN).
    raw["iso2"] = [
        a.strip().upper() if a.strip().upper() in geo.m49 else geo.iso2(c, "universities")
        for a, c in zip(raw["alpha2"], raw["country"], strict=True)
    ]
    domains: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in raw.itertuples(index=False):
        domains[(r.name, r.iso2)] += [d.strip().casefold() for d in r.domain.split("|") if d.strip()]
    raw = raw.drop_duplicates(["name", "iso2"])
    report["universities_duplicates"] = report["universities_read"] - len(raw)
    rows = []
    for r in raw.itertuples(index=False):
        row = _base("universities", r.name, r.country, r.iso2, geo)
        hosts = list(dict.fromkeys(domains[(r.name, r.iso2)]))
        stems = [s for s in (domain_stem(h) for h in hosts) if s]
        kept, short = _name_forms(r.name)
        acro = acronym(r.name)
        row.update(
            isic_section="P", isic_division="85", isic_basis="source", domain="|".join(hosts),
            _kept=kept, _short=short + ([acro] if acro else []) + stems,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def build_airlines(path: Path, geo: Geo, report: dict[str, Any]) -> pd.DataFrame:
    """Active airlines (OpenFlights, ODbL 1.0): ISIC H/51; the source's alias, IATA and ICAO codes as aliases."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["name"] = raw["name"].map(_unescape)
    raw = raw[raw["name"] != ""]
    report["airlines_read"] = len(raw)
    raw["iso2"] = [AIRLINE_COUNTRY_FIXES.get(n) or geo.iso2(c, "airlines") for n, c in zip(raw["name"], raw["country"], strict=True)]
    codes: dict[tuple[str, str], list[str]] = defaultdict(list)
    aliases: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in raw.itertuples(index=False):
        key = (r.name, r.iso2)
        aliases[key] += [_unescape(r.alias)] if r.alias.strip() else []
        codes[key] += [c for c in (r.iata.strip(), r.icao.strip()) if IATA_RE.match(c) or ICAO_RE.match(c)]
        if r.name in AIRLINE_COUNTRY_FIXES:
            report.setdefault("airline_country_fixes", {})[r.name] = f"{r.country.strip()!r} -> {r.iso2}"
    raw = raw.drop_duplicates(["name", "iso2"])
    report["airlines_duplicates"] = report["airlines_read"] - len(raw)
    rows = []
    for r in raw.itertuples(index=False):
        row = _base("airlines", r.name, r.country, r.iso2, geo)
        kept, short = _name_forms(r.name)
        acro = acronym(r.name)
        row.update(
            isic_section="H", isic_division="51", isic_basis="source",
            _kept=aliases[(r.name, r.iso2)] + kept, _short=short + ([acro] if acro else []) + codes[(r.name, r.iso2)],
        )
        rows.append(row)
    return pd.DataFrame(rows)


# --- aliases across the whole gazetteer -------------------------------------------------------------------


def settle_aliases(frames: dict[str, pd.DataFrame], report: dict[str, Any]) -> None:
    """Fill aliases and ambiguous_aliases: a short form that another record also claims is ambiguous, not an alias."""
    claims: dict[str, set[int]] = defaultdict(set)
    for frame in frames.values():
        for rid, name, kept, short in zip(frame["record_id"], frame["name"], frame["_kept"], frame["_short"], strict=True):
            for text in (name, *kept, *short):
                claims[match_key(text)].add(rid)
    ambiguous_count = 0
    for source, frame in frames.items():
        alias_col, ambiguous_col = [], []
        for rid, name, kept, short in zip(frame["record_id"], frame["name"], frame["_kept"], frame["_short"], strict=True):
            kept = unique_by_key(kept, exclude={match_key(name)})
            taken = {match_key(name)} | {match_key(k) for k in kept}
            short = unique_by_key(short, exclude=taken)
            clear = [s for s in short if claims[match_key(s)] == {rid}]
            unclear = [s for s in short if claims[match_key(s)] != {rid}]
            alias_col.append(kept + clear)
            ambiguous_col.append(unclear)
            ambiguous_count += len(unclear)
        frame["aliases"] = alias_col
        frame["ambiguous_aliases"] = ambiguous_col
        frames[source] = frame.drop(columns=["_kept", "_short"])
    report["ambiguous_short_forms"] = ambiguous_count


# --- build, write, check -------------------------------------------------------------------------------


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["name", "country", "record_id"], kind="stable").reset_index(drop=True)
    for column in COLUMNS:
        if column not in LIST_COLUMNS and column != "record_id":
            frame[column] = frame[column].fillna("").astype(str)
    return frame[list(COLUMNS)]


def build(shared: Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """All three gazetteer frames from the shared data, and a report of counts and gaps."""
    geo = Geo(load_codebook("m49"))
    sectors = Sectors(load_codebook("gics"), load_codebook("isic4"))
    report: dict[str, Any] = {}
    frames = {
        "companies": build_companies(shared / "companies.csv", geo, sectors, report),
        "universities": build_universities(shared / "universities.csv", geo, report),
        "airlines": build_airlines(shared / "airlines.csv", geo, report),
    }
    settle_aliases(frames, report)
    frames = {source: _finish(frame) for source, frame in frames.items()}
    for source, frame in frames.items():
        if frame.duplicated(["name", "country"]).any():
            raise SystemExit(f"{source}: duplicate (name, country) rows left after deduplication")
    ids = pd.concat([f["record_id"] for f in frames.values()])
    if ids.duplicated().any():
        raise SystemExit(f"record_id collision: {ids[ids.duplicated()].tolist()[:5]}")
    report["unmapped_countries"] = dict(geo.unmapped)
    report["gics_hierarchy_conflicts"] = sectors.hierarchy_conflicts
    return frames, report


# Written into each file's metadata, so the licence travels with the file even without data/SOURCES.md.
PROVENANCE = {
    "companies": ("JerBouma/FinanceDatabase, database/equities", "MIT"),
    "universities": ("Hipo/university-domains-list", "MIT"),
    "airlines": ("OpenFlights airlines.dat (Airline data (c) OpenFlights.org contributors)", "ODbL-1.0"),
}


def _table(frame: pd.DataFrame, source: str) -> pa.Table:
    table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)
    origin, licence = PROVENANCE[source]
    metadata = {
        **(table.schema.metadata or {}),
        b"autocode.source": origin.encode(),
        b"autocode.licence": licence.encode(),
        b"autocode.built_by": b"scripts/build_gazetteer.py",
    }
    return table.replace_schema_metadata(metadata)


def write(frames: dict[str, pd.DataFrame], out: Path) -> None:
    """Write each frame atomically (temp file, fsync, rename) as zstd Parquet."""
    out.mkdir(parents=True, exist_ok=True)
    for source, frame in frames.items():
        # 0o644: an installed data file must be readable by everyone, whatever the umask.
        with atomic_file(out / f"{source}.parquet", mode=0o644) as tmp:
            pq.write_table(_table(frame, source), tmp, compression="zstd", compression_level=19)


def check(frames: dict[str, pd.DataFrame], out: Path) -> list[str]:
    """Names of the files under `out` that are missing or differ from the rebuilt frames."""
    stale = []
    for source, frame in frames.items():
        target = out / f"{source}.parquet"
        if not target.exists():
            stale.append(f"{target} (missing)")
            continue
        on_disk, rebuilt = pq.read_table(target), _table(frame, source)
        # Parquet renames list items ("item" -> "element"), so types and values are compared, then our metadata.
        ours = [key for key in (rebuilt.schema.metadata or {}) if key.startswith(b"autocode.")]
        same_metadata = all((on_disk.schema.metadata or {}).get(k) == rebuilt.schema.metadata[k] for k in ours)
        if not on_disk.schema.equals(SCHEMA) or not on_disk.equals(rebuilt) or not same_metadata:
            stale.append(str(target))
    return stale


def _print_report(frames: dict[str, pd.DataFrame], report: dict[str, Any], out: Path | None) -> None:
    for source in SOURCES:
        frame = frames[source]
        no_country = int((frame["country"] == "").sum())
        no_isic = int((frame["isic_division"] == "").sum())
        line = f"{source:13s} {len(frame):6d} rows  no country {no_country:4d}  no ISIC division {no_isic:4d}"
        if out is not None and (out / f"{source}.parquet").exists():
            line += f"  {(out / f'{source}.parquet').stat().st_size / 1e6:.2f} MB"
        print(line)
    companies = frames["companies"]
    print("companies ISIC basis:", dict(Counter(companies["isic_basis"])))
    for key, value in report.items():
        if key != "unmapped_countries":
            print(f"{key}: {value}")
    unmapped = report["unmapped_countries"]
    print("country names not in m49:", {f"{s}: {n}": c for (s, n), c in unmapped.items()} or "none")
    left = sorted({n for (_, n) in unmapped if n not in COUNTRY_FIXES})
    print("  of which left without ISO2 (universities use their alpha2 column):", left or "none")


def main(argv: list[str] | None = None) -> int:
    """Build (or with --check, verify) data/gazetteer/*.parquet."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "gazetteer")
    parser.add_argument("--check", action="store_true", help="verify the committed files instead of writing")
    args = parser.parse_args(argv)
    for name in ("companies.csv", "universities.csv", "airlines.csv"):
        if not (args.shared / name).exists():
            print(f"missing {args.shared / name}", file=sys.stderr)
            return 2
    frames, report = build(args.shared)
    if args.check:
        stale = check(frames, args.out)
        if stale:
            print("out of date (run scripts/build_gazetteer.py):\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print(f"{args.out}: up to date")
        return 0
    write(frames, args.out)
    _print_report(frames, report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
