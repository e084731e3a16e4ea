"""The reference gazetteer: crosswalks that cover GICS, the shipped Parquet files, and their build script."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.employers.gazetteer import COLUMNS, SOURCES, GazetteerRecord, load_gazetteer

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"  # the full sources: only the rebuild test reads them
COMPANY_GICS_NAMES = REPO / "tests" / "data" / "companies_gics_names.csv"  # one companies.csv row per GICS name combination
CROSSWALKS = REPO / "data" / "crosswalks"
GAZETTEER = REPO / "data" / "gazetteer"


def _rows(name: str) -> list[dict[str, str]]:
    with (CROSSWALKS / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def gazetteer() -> pd.DataFrame:
    return load_gazetteer()


# --- crosswalks ---------------------------------------------------------------------------------------


def test_crosswalk_covers_every_gics_industry_with_a_valid_isic_division() -> None:
    gics, isic = load_codebook("gics"), load_codebook("isic4")
    rows = _rows("gics_industry_to_isic.csv")
    industries = [code for code in gics.codes() if len(code) == 6]
    assert len(industries) == 74
    assert sorted(r["gics_industry_code"] for r in rows) == sorted(industries)
    for row in rows:
        assert row["gics_industry_name"] == gics.get(row["gics_industry_code"]).name
        assert row["isic_division"] in isic and len(row["isic_division"]) == 2, row
        assert isic.parent(row["isic_division"]) == row["isic_section"], row


@pytest.mark.parametrize(
    ("code", "section", "division"),
    [("401010", "K", "64"), ("403010", "K", "65"), ("451030", "J", "62"), ("203020", "H", "51"),
     ("253010", "I", "55"), ("351020", "Q", "86"), ("602010", "L", "68"), ("501010", "J", "61"),
     ("201010", "C", "30"), ("352020", "C", "21")],
)
def test_crosswalk_anchor_rows(code: str, section: str, division: str) -> None:
    row = next(r for r in _rows("gics_industry_to_isic.csv") if r["gics_industry_code"] == code)
    assert (row["isic_section"], row["isic_division"]) == (section, division)


def test_name_table_codes_are_gics_and_cover_every_group_and_sector() -> None:
    gics, isic = load_codebook("gics"), load_codebook("isic4")
    rows = _rows("gics_names_to_isic.csv")
    width = {"sector": 2, "industry_group": 4, "industry": 6}
    for row in rows:
        assert row["level"] in width, row
        if row["gics_code"]:
            assert row["gics_code"] in gics and len(row["gics_code"]) == width[row["level"]], row
        assert isic.parent(row["isic_division"]) == row["isic_section"], row
    named = {(r["level"], r["name"]) for r in rows}
    for code in gics.codes():
        level = {2: "sector", 4: "industry_group"}.get(len(code))
        if level:
            assert (level, gics.get(code).name) in named, code


def test_every_gics_name_in_the_companies_source_is_mapped() -> None:
    gics = load_codebook("gics")
    level_of = {2: "sector", 4: "industry_group", 6: "industry"}
    known = {(level_of[len(c)], gics.get(c).name) for c in gics.codes() if len(c) in level_of}
    known |= {(r["level"], r["name"]) for r in _rows("gics_names_to_isic.csv")}
    # tests/data/cut_fixtures.py keeps the first row of each sector / industry group / industry combination in the
    # full companies.csv, so every name the full source uses is here.
    source = pd.read_csv(COMPANY_GICS_NAMES, dtype=str, keep_default_na=False)
    assert len(source) >= 100 and source["industry"].nunique() > 70
    for level, column in (("sector", "sector"), ("industry_group", "industry_group"), ("industry", "industry")):
        missing = {name for name in source[column] if name and (level, name) not in known}
        assert not missing, (level, missing)


# --- the shipped gazetteer ----------------------------------------------------------------------------------


def test_files_are_compact_and_carry_their_licence() -> None:
    sizes = {s: (GAZETTEER / f"{s}.parquet").stat().st_size for s in SOURCES}
    assert sum(sizes.values()) < 10_000_000, sizes
    licences = {s: pq.read_schema(GAZETTEER / f"{s}.parquet").metadata[b"autocode.licence"] for s in SOURCES}
    assert licences == {"companies": b"MIT", "universities": b"MIT", "airlines": b"ODbL-1.0",
                        "organisations": b"CC0-1.0", "brands": b"Apache-2.0", "large_employers": b"CC-BY-3.0",
                        "index_constituents": b"MIT"}


def test_columns_and_sources(gazetteer: pd.DataFrame) -> None:
    assert tuple(gazetteer.columns) == COLUMNS
    assert set(gazetteer["source"]) == set(SOURCES)
    assert gazetteer["record_id"].dtype == "int64"
    assert gazetteer["record_id"].is_unique
    assert (gazetteer["record_id"] >= 0).all()
    assert not gazetteer.duplicated(["source", "name", "country"]).any()


def test_sources_load_apart(gazetteer: pd.DataFrame) -> None:
    # The airline rows (ODbL) come only when asked for.
    companies = load_gazetteer(("companies",))
    assert set(companies["source"]) == {"companies"}
    assert len(companies) + len(load_gazetteer([s for s in SOURCES if s != "companies"])) == len(gazetteer)
    with pytest.raises(ValueError, match="unknown gazetteer source"):
        load_gazetteer(("banks",))


def test_loaded_frames_are_copies(gazetteer: pd.DataFrame) -> None:
    frame = load_gazetteer(("airlines",))
    frame.loc[0, "name"] = "changed"
    assert load_gazetteer(("airlines",)).loc[0, "name"] != "changed"


def test_dbs_is_a_singapore_bank(gazetteer: pd.DataFrame) -> None:
    row = gazetteer[gazetteer["name"] == "DBS Group Holdings Ltd"].iloc[0]
    assert (row["country"], row["isic_section"], row["isic_division"]) == ("SG", "K", "64")
    assert (row["region"], row["subregion"]) == ("Asia", "South-eastern Asia")
    assert (row["gics_industry"], row["gics_industry_code"]) == ("Banks", "401010")
    assert {"DBS Group Holdings", "DBS Group", "DBS"} <= set(row["aliases"])
    assert row["legal_forms"] == ("Ltd",)
    record = GazetteerRecord.from_row(row)
    assert record.name == "DBS Group Holdings Ltd" and "DBS" in record.aliases


def test_universities_are_education_and_airlines_air_transport(gazetteer: pd.DataFrame) -> None:
    universities = gazetteer[gazetteer["source"] == "universities"]
    airlines = gazetteer[gazetteer["source"] == "airlines"]
    assert len(universities) > 4000 and len(airlines) > 500
    assert set(zip(universities["isic_section"], universities["isic_division"], strict=True)) == {("P", "85")}
    assert set(zip(airlines["isic_section"], airlines["isic_division"], strict=True)) == {("H", "51")}
    qantas = airlines[airlines["name"] == "Qantas"].iloc[0]
    assert qantas["country"] == "AU"
    assert {"Qantas Airways", "QF", "QFA"} <= set(qantas["aliases"]) | set(qantas["ambiguous_aliases"])


def test_nearly_every_row_has_a_country_and_an_isic_division(gazetteer: pd.DataFrame) -> None:
    # Brands are multinationals: their country comes from the answer, so they have none.
    assert (gazetteer.loc[gazetteer["source"] != "brands", "country"] != "").mean() > 0.99
    # The companies without a division are those whose sector fields the source copied from another company
    # (build_gazetteer.py drops them rather than guess): about 1% of the companies. Registry companies, and
    # large employers whose industry is "conglomerate", have no industry to map.
    companies = gazetteer[gazetteer["source"] == "companies"]
    no_isic = companies[companies["isic_division"] == ""]
    assert len(no_isic) / len(companies) < 0.015
    assert (no_isic["gics_sector"] == "").all()
    for source in ("universities", "airlines"):
        assert (gazetteer.loc[gazetteer["source"] == source, "isic_division"] != "").all()


def test_codes_agree_with_their_codebooks(gazetteer: pd.DataFrame) -> None:
    isic, m49, gics = load_codebook("isic4"), load_codebook("m49"), load_codebook("gics")
    classified = gazetteer[gazetteer["isic_division"] != ""]
    pairs = set(zip(classified["isic_section"], classified["isic_division"], strict=True))
    assert all(isic.parent(division) == section for section, division in pairs)
    for country, region, subregion in set(zip(gazetteer["country"], gazetteer["region"], gazetteer["subregion"], strict=True)):
        if country and country != "AQ":
            path = [m49.get(code).name for code in m49.path(country)[:-1]]
            assert [region, subregion][: len(path)] == path, country
    coded = gazetteer[gazetteer["gics_industry_code"] != ""]
    for code, name in set(zip(coded["gics_industry_code"], coded["gics_industry"], strict=True)):
        assert gics.get(code).name == name


def test_ambiguous_short_forms_are_kept_apart(gazetteer: pd.DataFrame) -> None:
    # Several records have the initials TCS: recorded as ambiguous, not guessed (Tata Consultancy Services'
    # listing is held out of the gazetteer by holdout.py, so the test names none of them).
    assert not any("TCS" in aliases for aliases in gazetteer["aliases"])
    assert any("TCS" in ambiguous for ambiguous in gazetteer["ambiguous_aliases"])
    for aliases, ambiguous in zip(gazetteer["aliases"], gazetteer["ambiguous_aliases"], strict=True):
        assert not set(aliases) & set(ambiguous)


# --- the build script ------------------------------------------------------------------------------------


def _build_module():
    spec = importlib.util.spec_from_file_location("build_gazetteer", REPO / "scripts" / "build_gazetteer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    build = _build_module()
    frames = {source: load_gazetteer((source,)).head(20) for source in SOURCES}
    for frame in frames.values():
        for column in ("aliases", "ambiguous_aliases", "legal_forms"):
            frame[column] = [list(value) for value in frame[column]]
    build.write(frames, tmp_path)
    assert build.check(frames, tmp_path) == []
    frames["airlines"].loc[0, "country"] = "ZZ"
    assert build.check(frames, tmp_path) == [str(tmp_path / "airlines.parquet")]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "companies.csv").exists(), reason="needs the full ../shared sources: rebuild test")
def test_committed_gazetteer_is_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_gazetteer.py"), "--check"],
        cwd=REPO, capture_output=True, check=False, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
