"""The wider reference: registry organisations, brands, large employers, index constituents, institution words."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.employers.gazetteer import SOURCES, load_gazetteer
from autocode.classifiers.employers.holdout import part_of
from autocode.classifiers.employers.names import match_key
from autocode.classifiers.employers.wordlists import DataFileError, load_institution_words

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "gazetteer"
sys.path.insert(0, str(REPO / "scripts"))

from gazetteer.brands import build_brands, fold_registry_brands  # noqa: E402
from gazetteer.common import Geo, Sectors  # noqa: E402
from gazetteer.industries import IndustryTerms, build_large_employers  # noqa: E402
from gazetteer.institution_words import learn, words_of  # noqa: E402
from gazetteer.organisations import build_organisations  # noqa: E402


@pytest.fixture(scope="module")
def tools() -> tuple[Geo, Sectors, Any]:
    gics, isic = load_codebook("gics"), load_codebook("isic4")
    return Geo(load_codebook("m49")), Sectors(gics, isic), isic


@pytest.fixture(scope="module")
def organisations(tools: tuple[Geo, Sectors, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    report: dict[str, Any] = {}
    live, _ = build_organisations(FIXTURES / "organisations_fixture.csv", tools[0], report)
    return live, report


def _row(frame: pd.DataFrame, ror_id: str) -> dict[str, Any]:
    return frame[frame["source_id"] == ror_id].iloc[0].to_dict()


def test_registry_types_map_to_isic_sections(organisations: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    live, _ = organisations
    expected = {
        "01rfnc002": ("P", "85"),  # education
        "00ns0qg75": ("Q", "86"),  # healthcare
        "011pe6079": ("O", "84"),  # government
        "00003g016": ("S", "94"),  # nonprofit
        "000050t83": ("M", "72"),  # facility
        "04qeh2h86": ("R", "91"),  # archive
    }
    for ror_id, pair in expected.items():
        row = _row(live, ror_id)
        assert (row["isic_section"], row["isic_division"]) == pair, ror_id
        assert row["isic_basis"].startswith("ror_type:")
    # a company's industry is not in the registry: nothing is made up for KPMG (Netherlands)
    assert _row(live, "03xvagj73")["isic_section"] == ""


def test_held_out_records_are_absent(organisations: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    live, report = organisations
    assert part_of("organisations", "000025p04") != "gazetteer"
    assert "000025p04" not in set(live["source_id"])
    assert report["organisations_held_out"] == 1


def test_retired_records_are_aliases_of_their_successor_or_dropped(
    organisations: tuple[pd.DataFrame, dict[str, Any]],
) -> None:
    live, report = organisations
    ids = set(live["source_id"])
    # withdrawn, same web host as a live record: its name is that record's alias, never a live record of its own
    assert "0x0retir1" not in ids
    assert "Old Name of the Parkway Cancer Centre" in _row(live, "00ns0qg75")["_kept"]
    # inactive / withdrawn with no live successor: dropped
    assert "00hhhdj49" not in ids and "01dcq4v13" not in ids
    assert report["organisations_retired_as_alias_of_successor"] == 1
    assert report["organisations_retired_dropped"] == 2


def test_country_suffixed_registry_names_fold_into_the_brand(
    tools: tuple[Geo, Sectors, Any], organisations: tuple[pd.DataFrame, dict[str, Any]],
) -> None:
    geo, sectors, isic = tools
    report: dict[str, Any] = {}
    brands = build_brands(geo, sectors, isic, report)
    live, _ = organisations
    names = set(geo.by_name) | {match_key(n) for n in geo.by_name}
    rest = fold_registry_brands(brands, live.to_dict("records"), names, [], geo, report)
    left = {r["source_id"] for r in rest}
    assert "00mxf7m82" not in left and "03xvagj73" not in left  # Deloitte Portugal (Portugal), KPMG (Netherlands)
    deloitte = next(b for b in brands if b["name"] == "Deloitte")
    assert deloitte["country"] == "" and (deloitte["isic_section"], deloitte["isic_division"]) == ("M", "69")
    assert deloitte["gics_sector"] == "Industrials"
    assert "Deloitte Portugal (Portugal)" in deloitte["_kept"]
    assert report["organisations_folded_into_brands"] == 2


def test_large_employers_industries_map_to_isic_and_gics(tools: tuple[Geo, Sectors, Any]) -> None:
    geo, sectors, isic = tools
    terms = IndustryTerms(sectors.gics, isic)
    report: dict[str, Any] = {}
    rows = {r["name"]: r for r in build_large_employers(FIXTURES / "large_employers_fixture.csv", geo, sectors,
                                                         terms, report)}
    post, vw, tata = rows["China Post"], rows["Volkswagen Group"], rows["Tata Group"]
    assert (post["country"], post["isic_division"], post["gics_sector"]) == ("CN", "53", "Industrials")
    assert (vw["isic_section"], vw["isic_division"], vw["gics_sector"]) == ("C", "29", "Consumer Discretionary")
    # "conglomerate" says nothing about the industry: no sector is guessed
    assert tata["isic_division"] == "" and report["large_employers_industry_without_term"] == {"conglomerate": 1}
    assert terms.lookup("oilfield services subsea")[:2] == ("B", "09")


def test_institution_words_rule() -> None:
    def record(name: str, section: str, country: str) -> dict[str, Any]:
        return {"name": name, "aliases": (), "isic_section": section, "isic_division": "", "country": country}

    records = [record(f"Krankenhaus Nummer {i}", "Q", "DEAT"[i % 2 * 2:][:2] if i % 3 else "CH") for i in range(30)]
    records += [record(f"Firma {i} Nummer", "C", "DE") for i in range(40)]
    words = {r["word"]: r for r in learn(records)}
    assert words["krankenhaus"]["section"] == "Q"
    assert "nummer" not in words  # used across sections: not pure
    assert words_of("東京大学") >= {"大学", "京大学"}


def test_shipped_institution_words_load() -> None:
    words = load_institution_words()
    assert words["hospital"].section == "Q" and words["universidad"].section == "P" and words["大学"].section == "P"
    assert words["ministry"].section == "O" and words["bank"].section == "K"


def test_a_bad_institution_word_row_names_its_field(tmp_path: Path) -> None:
    path = tmp_path / "words.csv"
    path.write_text("word,section,division,records,purity,countries,top_countries\nhospital,QQ,86,10,0.9,3,\n")
    with pytest.raises(DataFileError, match="field 'section'"):
        load_institution_words(path)


# --- the shipped gazetteer ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gazetteer() -> pd.DataFrame:
    return load_gazetteer()


def _find(gazetteer: pd.DataFrame, text: str) -> pd.DataFrame:
    key = match_key(text)
    hit = [key in {match_key(t) for t in (n, *a, *b)}
           for n, a, b in zip(gazetteer["name"], gazetteer["aliases"], gazetteer["ambiguous_aliases"], strict=True)]
    return gazetteer[hit]


@pytest.mark.parametrize(
    ("text", "country", "division"),
    [("NUS", "SG", "85"), ("Infosys", "", "62"), ("Deloitte", "", "69"), ("PwC", "", "69"), ("KPMG", "", "69"),
     ("McKinsey", "", "70"), ("HSBC", "", "64"), ("UOB", "SG", "64"), ("A*STAR", "SG", "84"),
     ("Temasek Polytechnic", "SG", "85")],
)
def test_named_employers_are_findable(gazetteer: pd.DataFrame, text: str, country: str, division: str) -> None:
    rows = _find(gazetteer, text)
    assert ((rows["country"] == country) & (rows["isic_division"] == division)).any(), rows[["name", "source"]]


def test_held_out_companies_are_absent(gazetteer: pd.DataFrame) -> None:
    # OCBC's listing is in the calibration part: it is not in the companies file
    companies = gazetteer[gazetteer["source"] == "companies"]
    assert "Oversea-Chinese Banking Corporation Limited" not in set(companies["name"])
    assert part_of("companies", "Oversea-Chinese Banking Corporation Limited\x1fSingapore") == "calibrate"


def test_sources_and_gics_filled(gazetteer: pd.DataFrame) -> None:
    assert set(gazetteer["source"]) == set(SOURCES)
    airlines = gazetteer[gazetteer["source"] == "airlines"]
    assert (airlines["gics_sector"] == "Industrials").all()
    universities = gazetteer[gazetteer["source"] == "universities"]
    assert (universities["gics_sector"] == "").all()  # a public university is no GICS company
    brands = gazetteer[gazetteer["source"] == "brands"]
    assert (brands.loc[brands["name"] == "HSBC", "country"] == "").all()
    # every record with a GICS name and no ISIC, or the reverse, is one the crosswalks cannot place
    listed = gazetteer[gazetteer["source"].isin(["index_constituents", "large_employers"])]
    assert ((listed["gics_sector"] != "") <= (listed["isic_division"] != "")).mean() > 0.98
