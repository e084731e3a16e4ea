"""Build the reference gazetteer from the shared reference data (and a user's own registers).

    python scripts/build_gazetteer.py [--shared ../shared/data] [--out data/gazetteer] [--check]
                                      [--extra FILE [--map field=column ...]]

Sources, one Parquet file each (zstd, one schema: autocode.classifiers.employers.gazetteer.SCHEMA):
companies (FinanceDatabase, MIT), universities (Hipo, MIT), airlines (OpenFlights, ODbL: kept apart so its
terms stay with it), organisations (Research Organization Registry, CC0), brands (data/employers/brands.csv,
reviewed), large_employers (boberle/random-items from DBpedia, CC BY 3.0), index_constituents (pytickersymbols,
MIT). Companies and organisations keep only their "gazetteer" part (classifiers/employers/holdout.py); no other
source may bring a held-out company back. A row naming a record already built (same name in the same country,
or the same web host) is folded into it as aliases. Sectors come from data/crosswalks/; a GICS sector is filled
from ISIC where the division has one (isic_to_gics_sector.csv). The build also learns the institution words
(data/employers/institution_words.csv). --extra reads a register CSV (scripts/gazetteer/register.py lists its
columns) into register.parquet. --check rebuilds in memory and fails if the committed files differ.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # the gazetteer/ package beside this script

from gazetteer.airlines import build_airlines  # noqa: E402
from gazetteer.brands import build_brands, fold_registry_brands  # noqa: E402
from gazetteer.common import COUNTRY_FIXES, CROSSWALKS, Geo, Sectors  # noqa: E402
from gazetteer.companies import build_companies  # noqa: E402
from gazetteer.industries import IndustryTerms, build_index_constituents, build_large_employers  # noqa: E402
from gazetteer.institution_words import RULE, learn, render  # noqa: E402
from gazetteer.merge import Claims, fold, fold_frame, is_held  # noqa: E402
from gazetteer.organisations import build_organisations, read_csv_skip_comments  # noqa: E402
from gazetteer.register import build_register  # noqa: E402
from gazetteer.universities import build_universities  # noqa: E402

from autocode.classifiers.codebook import load_codebook  # noqa: E402
from autocode.classifiers.employers.gazetteer import COLUMNS, LIST_COLUMNS, SCHEMA  # noqa: E402
from autocode.classifiers.employers.names import match_key, unique_by_key  # noqa: E402
from autocode.embeddings.durable import atomic_file  # noqa: E402

INSTITUTION_WORDS = REPO / "data" / "employers" / "institution_words.csv"
BUSINESS_SOURCES = {"companies", "airlines", "brands", "large_employers", "index_constituents", "register"}
SHARED_FILES = ("companies.csv", "universities.csv", "airlines.csv", "organisations.csv", "large_employers.csv")


def fill_gics_from_isic(rows: list[dict[str, Any]], business: bool) -> int:
    """Give rows with an ISIC division and no GICS sector the division's one GICS sector; returns how many."""
    table = {r["isic_division"]: r for r in read_csv_skip_comments(CROSSWALKS / "isic_to_gics_sector.csv")}
    filled = 0
    for row in rows:
        rule = table.get(row["isic_division"])
        # A brand with a country is a public institution the sources lack (NUS), not a business.
        company = (business and not (row["source"] == "brands" and row["country"])) or "company" in row.get("_types", ())
        if rule and not row["gics_sector"] and (rule["applies_to"] == "all" or company):
            row["gics_sector"] = rule["gics_sector"]
            filled += 1
    return filled


def _merge_same_name(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of one source that share (name, country) become one row (the first), with the others' names."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    out = []
    for row in rows:
        key = (row["name"], row["country"])
        if key in first:
            fold(first[key], row)
        else:
            first[key] = row
            out.append(row)
    return out


def build(shared: Path, extras: list[Path] = (), mapping: dict[str, str] | None = None,
          ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """All gazetteer frames from the shared data (and registers), and a report of counts and gaps."""
    geo = Geo(load_codebook("m49"))
    gics, isic = load_codebook("gics"), load_codebook("isic4")
    sectors = Sectors(gics, isic)
    terms = IndustryTerms(gics, isic)
    report: dict[str, Any] = {}
    country_names = set(geo.by_name) | {match_key(n) for n in geo.by_name}
    companies_frame, held = build_companies(shared / "companies.csv", geo, sectors, report)
    held_anywhere = {k for k, _ in held}
    companies = companies_frame.to_dict("records")
    universities = build_universities(shared / "universities.csv", geo, report).to_dict("records")
    airlines = build_airlines(shared / "airlines.csv", geo, report).to_dict("records")
    brands = build_brands(geo, sectors, isic, report)
    clash = [b["name"] for b in brands if is_held(b, held, held_anywhere)]
    if clash:
        raise SystemExit(f"brands.csv names companies held out of the gazetteer: {clash}")
    orgs_frame, _ = build_organisations(shared / "organisations.csv", geo, report)
    orgs = [o for o in orgs_frame.to_dict("records") if not is_held(o, held, held_anywhere)]
    report["organisations_dropped_as_held_out_companies"] = len(orgs_frame) - len(orgs)
    orgs = fold_registry_brands(brands, orgs, country_names, companies, geo, report)
    # Registry universities and companies already in the gazetteer lend it their names (other languages).
    targets = Claims()
    for row in companies + universities:
        targets.add(row)
    kept, folded = [], Counter()
    for org in orgs:
        types = org["_types"]
        target = targets.target(org) if ("education" in types or "company" in types) else None
        if target is not None and (target["source"] == "universities") == ("education" in types):
            fold(target, org)
            folded[target["source"]] += 1
        else:
            kept.append(org)
    report["organisations_folded_into"] = dict(folded)
    orgs = _merge_same_name(kept)
    claims = Claims()
    for row in companies + universities + brands + orgs:
        claims.add(row)
    for b in brands:  # a brand's short forms ("PwC") name it too
        for text in b["_short"]:
            claims.by_key[(match_key(text), b["country"])].add(claims.rows.index(b))
    large_rows = build_large_employers(shared / "large_employers.csv", geo, sectors, terms, report)
    large = pd.DataFrame(large_rows).drop_duplicates(["name", "country"])
    large = fold_frame(large, claims, held, report, "large_employers").to_dict("records")
    for row in large:
        claims.add(row)
    index_rows = pd.DataFrame(build_index_constituents(sectors, terms, geo, report))
    indices = fold_frame(index_rows, claims, held, report, "index_constituents").to_dict("records")
    rows = {"companies": companies, "universities": universities, "airlines": airlines, "organisations": orgs,
            "brands": brands, "large_employers": large, "index_constituents": indices}
    for path in extras:
        rows["register"] = rows.get("register", []) + build_register(path, mapping or {}, geo, sectors, isic, report)
    report["gics_sector_from_isic"] = {s: fill_gics_from_isic(r, s in BUSINESS_SOURCES) for s, r in rows.items()}
    frames = {s: pd.DataFrame(r) for s, r in rows.items()}
    for frame in frames.values():
        for column in ("_kept", "_short"):
            frame[column] = [list(v) for v in frame[column]]
    settle_aliases(frames, report)
    frames = {source: _finish(frame) for source, frame in frames.items()}
    for source, frame in frames.items():
        if frame.duplicated(["name", "country"]).any():
            dups = frame[frame.duplicated(["name", "country"], keep=False)]["name"].tolist()[:5]
            raise SystemExit(f"{source}: duplicate (name, country) rows left after deduplication: {dups}")
    ids = pd.concat([f["record_id"] for f in frames.values()])
    if ids.duplicated().any():
        raise SystemExit(f"record_id collision: {ids[ids.duplicated()].tolist()[:5]}")
    report["unmapped_countries"] = dict(geo.unmapped)
    report["gics_hierarchy_conflicts"] = sectors.hierarchy_conflicts
    return frames, report


def institution_words(frames: dict[str, pd.DataFrame]) -> str:
    """The learnt institution words (CSV text) from every record of the built gazetteer."""
    records = pd.concat([f for s, f in frames.items() if s != "register"], ignore_index=True)
    return render(learn(records.to_dict("records")), RULE)


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


# Written into each file's metadata, so the licence travels with the file even without data/SOURCES.md.
PROVENANCE = {
    "companies": ("JerBouma/FinanceDatabase, database/equities", "MIT"),
    "universities": ("Hipo/university-domains-list", "MIT"),
    "airlines": ("OpenFlights airlines.dat (Airline data (c) OpenFlights.org contributors)", "ODbL-1.0"),
    "organisations": ("Research Organization Registry (ror-community/ror-records)", "CC0-1.0"),
    "brands": ("data/employers/brands.csv, reviewed by the autocode developers; registry names folded in (CC0)",
               "Apache-2.0"),
    "large_employers": ("boberle/random-items data/companies.csv, derived from DBpedia", "CC-BY-3.0"),
    "index_constituents": ("pytickersymbols (index constituents)", "MIT"),
    "register": ("a user's register (--extra)", "the register's own"),
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


def check(frames: dict[str, pd.DataFrame], out: Path, words: str | None = None,
          words_file: Path = INSTITUTION_WORDS) -> list[str]:
    """Names of the files under `out` (and the institution words) that are missing or differ from the rebuild."""
    stale = []
    if words is not None and (not words_file.exists() or words_file.read_text(encoding="utf-8") != words):
        stale.append(str(words_file))
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
    for source, frame in frames.items():
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
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="a register CSV of your own (columns: scripts/gazetteer/register.py) -> register.parquet")
    parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                        help="read FIELD (name, country, aliases, isic_division ...) from COLUMN of --extra files")
    args = parser.parse_args(argv)
    mapping = dict(m.split("=", 1) for m in args.map)
    for name in SHARED_FILES:
        if not (args.shared / name).exists():
            print(f"missing {args.shared / name}", file=sys.stderr)
            return 2
    frames, report = build(args.shared, args.extra, mapping)
    words = institution_words(frames)
    if args.check:
        stale = check(frames, args.out, words)
        if stale:
            print("out of date (run scripts/build_gazetteer.py):\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print(f"{args.out}: up to date")
        return 0
    write(frames, args.out)
    if not args.extra:  # the shipped words come from the shipped sources only
        with atomic_file(INSTITUTION_WORDS, mode=0o644) as tmp:
            Path(tmp).write_text(words, encoding="utf-8")
        print(f"{INSTITUTION_WORDS}: {words.count(chr(10)) - 7} institution words")
    _print_report(frames, report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
