"""`autocode employers`, `search` and `records`, in-process through Typer's runner with the real model.

To keep the suite fast the engine runs over a gazetteer subset (every record of SG and MY, plus the
universities and airlines of TH, ID, HK and IN: about 1,400 of 33,000 records; all six countries' companies
would be 6,000 records and minutes of encoding on two cores), and its name index is built once per test
session, in a session-scoped fixture, into a tmp folder every test shares (`index_cache`); each test still
gets its own AUTOCODE_HOME and so its own record store. Persistence across processes runs the real `autocode` console script
twice in subprocesses, with `records add` then `records list` (a subprocess `search` would pay the whole-gazetteer index build).
The engine's diffing of store changes onto the resolver is checked first with a stand-in resolver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.service import employer_engine
from autocode.service.cli import app
from autocode.service.stores.records import RecordStore

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"
SUBSET_COUNTRIES = ("SG", "MY", "TH", "ID", "HK", "IN")
FULL_COUNTRIES = ("SG", "MY")
AUTOCODE = Path(sys.executable).with_name("autocode")


def subset_gazetteer() -> pd.DataFrame:
    """The test gazetteer: every record of SG and MY, and the universities and airlines of TH, ID, HK and IN."""
    g = load_gazetteer()
    keep = g["country"].isin(FULL_COUNTRIES) | (g["country"].isin(SUBSET_COUNTRIES) & (g["source"] != "companies"))
    return g[keep].reset_index(drop=True)


# ----------------------------------------------------------------- the engine's diffing, with a stand-in


class StandInResolver:
    """Keeps the records it was given and applies upserts/removals: what the engine must keep in step."""

    def __init__(self, records: pd.DataFrame) -> None:
        self.records = {int(r["record_id"]): r for r in records.to_dict("records")}
        self.calls: list[tuple[str, list[int]]] = []

    def upsert_records(self, frame: pd.DataFrame) -> None:
        self.calls.append(("upsert", sorted(int(i) for i in frame["record_id"])))
        self.records.update({int(r["record_id"]): r for r in frame.to_dict("records")})

    def remove_records(self, ids: list[int]) -> int:
        self.calls.append(("remove", sorted(ids)))
        return sum(self.records.pop(int(i), None) is not None for i in ids)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[pd.DataFrame]:
    reference = load_gazetteer().head(3)
    monkeypatch.setattr(employer_engine, "reference_records", lambda: reference)
    monkeypatch.setattr(employer_engine, "_build", lambda encoder, ref, content: StandInResolver(ref))
    monkeypatch.setattr(employer_engine, "_ENGINES", {})
    monkeypatch.setattr("autocode.embeddings.get_encoder", lambda name: None)  # the stand-in needs no model
    yield reference


def _state(resolver: Any) -> dict[int, tuple[str, str, str]]:
    return {i: (r["name"], r["isic_division"], r["country"]) for i, r in resolver.records.items()}


def test_engine_applies_each_store_change_as_a_small_diff(stand_in: pd.DataFrame, tmp_path: Path) -> None:
    ref = [int(i) for i in stand_in["record_id"]]
    store = RecordStore(tmp_path / "a.sqlite3")
    resolver = employer_engine.get_resolver(store)

    def check(*calls: tuple[str, list[int]]) -> None:
        employer_engine.sync(store)
        assert employer_engine.get_resolver(store) is resolver  # one resolver, kept in step
        assert resolver.calls == list(calls)
        assert _state(resolver) == _state(StandInResolver(store.merged(stand_in)))
        resolver.calls.clear()

    check()
    acme = store.add({"name": "Acme Widgets Pte Ltd", "country": "SG", "isic_division": "28"})
    check(("upsert", [acme]))
    store.upsert({"record_id": ref[0], "isic_division": "62"})
    check(("upsert", [ref[0]]))
    store.remove(ref[0])
    check(("remove", [ref[0]]))
    store.remove(ref[1])
    check(("remove", [ref[1]]))
    store.upsert({"record_id": ref[1], "country": "SG"})  # a correction brings a removed record back
    check(("upsert", [ref[1]]))
    check()  # nothing changed: nothing applied

    other = RecordStore(tmp_path / "b.sqlite3")  # another home: undo a's records, back to the reference
    employer_engine.get_resolver(other)
    assert _state(resolver) == _state(StandInResolver(stand_in))


# ----------------------------------------------------------------- the real resolver over the subset


@pytest.fixture(scope="session")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the subset's name index once per session (the slow step), into a folder every test shares."""
    folder = tmp_path_factory.mktemp("employer-index")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(employer_engine, "reference_records", subset_gazetteer)
        mp.setattr(employer_engine, "index_root", lambda: folder)
        with RecordStore(tmp_path_factory.mktemp("build-home") / "records.sqlite3") as store:
            employer_engine.get_resolver(store)
    assert any(folder.glob("employers-minilm-*/manifest.json"))
    return folder


@pytest.fixture
def engine(index_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(employer_engine, "reference_records", subset_gazetteer)
    monkeypatch.setattr(employer_engine, "index_root", lambda: index_cache)


def _search(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["search", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _resolve(text: str) -> Any:
    return employer_engine.get_resolver().resolve([text])[0]


@pytest.mark.slow
def test_employers_writes_every_row_with_the_employer_columns(engine: None, tmp_path: Path) -> None:
    out = tmp_path / "employers.csv"
    result = runner.invoke(app, ["employers", str(SAMPLE), "--column", "employer", "--output", str(out)])
    assert result.exit_code == 0, result.output
    coded = pd.read_csv(out, dtype=str, keep_default_na=False)
    original = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    assert list(coded["respondent_id"]) == list(original["respondent_id"])
    suffixes = ["employer", "match_score", "isic_section", "isic_division", "sector", "gics_sector", "country",
                "region", "subregion", "confidence", "needs_review", "evidence"]
    assert list(coded.columns) == [*original.columns, *(f"employer_{s}" for s in suffixes)]
    dbs = coded[coded["employer"] == "DBS"].iloc[0]
    assert (dbs["employer_employer"], dbs["employer_country"], dbs["employer_isic_section"]) == ("DBS Group Holdings Ltd", "SG", "K")
    assert dbs["employer_region"] == "Asia" and json.loads(dbs["employer_evidence"])
    assert "rows 50" in result.output and "sent to review" in result.output


@pytest.mark.slow
def test_employers_names_a_missing_column(engine: None) -> None:
    result = runner.invoke(app, ["employers", str(SAMPLE), "--column", "company"])
    assert result.exit_code == 2
    assert "company" in result.output and "employer" in result.output


@pytest.mark.slow
def test_search_lists_dbs_first_and_filters(engine: None) -> None:
    hits = _search("dbs bank", "--country", "SG")
    assert hits[0]["name"] == "DBS Group Holdings Ltd" and all(h["country"] == "SG" for h in hits)
    assert all(h["country"] == "MY" for h in _search("bank", "--country", "MY", "--k", "5"))
    table = runner.invoke(app, ["search", "dbs bank", "--country", "SG", "--k", "3"])
    assert table.exit_code == 0 and "DBS Group" in table.output and str(hits[0]["record_id"]) in table.output


@pytest.mark.slow
def test_add_correct_remove_change_the_next_search(engine: None) -> None:
    before = _search("acme widgets", "--country", "SG")
    assert all("Acme" not in h["name"] for h in before)

    added = runner.invoke(app, ["records", "add", "--name", "Acme Widgets Pte Ltd", "--country", "SG", "--isic-division", "28"])
    assert added.exit_code == 0, added.output
    hits = _search("acme widgets")
    assert hits[0]["name"] == "Acme Widgets Pte Ltd" and hits[0]["source"] == "user"
    rid = hits[0]["record_id"]
    assert str(rid) in added.output and hits[0]["isic_division"] == "28"
    assert _resolve("Acme Widgets").employer == "Acme Widgets Pte Ltd"

    corrected = runner.invoke(app, ["records", "add", "--id", str(rid), "--isic-division", "62"])
    assert corrected.exit_code == 0, corrected.output
    hit = next(h for h in _search("acme widgets") if h["record_id"] == rid)
    assert (hit["isic_section"], hit["isic_division"]) == ("J", "62")
    assert _resolve("Acme Widgets").isic_division == "62"

    removed = runner.invoke(app, ["records", "remove", str(rid)])
    assert removed.exit_code == 0, removed.output
    assert all(h["record_id"] != rid for h in _search("acme widgets"))
    assert _resolve("Acme Widgets").employer != "Acme Widgets Pte Ltd"


@pytest.mark.slow
def test_a_gazetteer_record_can_be_corrected_and_removed(engine: None) -> None:
    rid = _search("dbs bank", "--country", "SG")[0]["record_id"]
    assert runner.invoke(app, ["records", "add", "--id", str(rid), "--isic-division", "62"]).exit_code == 0
    assert _search("dbs bank", "--country", "SG")[0]["isic_division"] == "62"
    assert _resolve("DBS").isic_division == "62"
    assert runner.invoke(app, ["records", "remove", str(rid)]).exit_code == 0
    assert all(h["record_id"] != rid for h in _search("dbs bank", "--country", "SG"))
    listed = runner.invoke(app, ["records", "list"])
    assert "1 gazetteer records removed" in listed.output and str(rid) in listed.output


def test_records_add_refuses_a_bad_record_naming_the_field() -> None:
    result = runner.invoke(app, ["records", "add", "--name", "Acme", "--country", "XX"])
    assert result.exit_code == 2 and "country" in result.output and "XX" in result.output
    assert runner.invoke(app, ["records", "add", "--country", "SG"]).exit_code == 2  # a new record needs --name
    assert "no record 42" in runner.invoke(app, ["records", "remove", "42"]).output


def test_records_import_reports_bad_rows(tmp_path: Path) -> None:
    table = tmp_path / "new.csv"
    pd.DataFrame({"name": ["Acme Widgets Pte Ltd", ""], "country": ["SG", "MY"]}).to_csv(table, index=False)
    result = runner.invoke(app, ["records", "import", str(table)])
    assert result.exit_code == 0, result.output
    assert "row 2: name: must not be empty" in result.output and "added 1" in result.output and "skipped 1" in result.output


@pytest.mark.slow
def test_records_persist_across_processes(tmp_path: Path) -> None:
    env = {**os.environ, "AUTOCODE_HOME": str(tmp_path / "home")}
    add = subprocess.run([str(AUTOCODE), "records", "add", "--name", "Acme Widgets Pte Ltd", "--country", "SG", "--alias", "Acme"],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert add.returncode == 0, add.stderr
    listed = subprocess.run([str(AUTOCODE), "records", "list", "--json"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)["records"]
    assert [(r["name"], r["country"], r["aliases"]) for r in records] == [("Acme Widgets Pte Ltd", "SG", ["Acme"])]
    assert (tmp_path / "home" / "records.sqlite3").is_file()


@pytest.mark.slow
def test_later_runs_load_the_cached_index_instead_of_encoding(engine: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from autocode.embeddings import get_encoder

    monkeypatch.setattr(employer_engine, "_ENGINES", {})  # as a new process would start
    encoder = get_encoder(employer_engine.ENCODER)
    before = encoder.texts_encoded
    resolver = employer_engine.get_resolver()
    assert encoder.texts_encoded == before and len(resolver.name_index_) > 1_000


@pytest.mark.slow
def test_employers_keeps_bad_rows_and_decides_each_text_once(engine: None, tmp_path: Path) -> None:
    data = tmp_path / "answers.csv"
    pd.DataFrame({"id": [1, 2, 3, 4], "employer": ["DBS", "", "dbs", "Acme Widgets"]}).to_csv(data, index=False)
    out = tmp_path / "answers.employers.csv"
    result = runner.invoke(app, ["employers", str(data), "--column", "employer"])
    assert result.exit_code == 0, result.output
    coded = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(coded["id"]) == ["1", "2", "3", "4"]
    assert coded["employer_employer"].tolist()[:3] == ["DBS Group Holdings Ltd", "", "DBS Group Holdings Ltd"]
    assert coded["employer_needs_review"][1] == "True" and "empty cell" in coded["employer_evidence"][1]
    assert "row 2: empty cell" in result.output and "unique texts 2" in result.output and "invalid 1" in result.output


# ----------------------------------------------------------------- the demo's employer column against gold

GOLD = SAMPLE.with_name("survey_sample_employers_gold.csv")
_PLACES = {"singapore": "SG", "malaysia": "MY", "hong kong": "HK", "indonesia": "ID", "thailand": "TH"}


def _allowed(cell: Any) -> set[str]:
    return {part.strip() for part in str("" if pd.isna(cell) else cell).split("|")}


def _absurd(answer: str, section: str, country: str) -> str | None:
    """Why a best guess could not be right whatever the record; None when it is plausible."""
    text = answer.casefold()
    if "bank" in text and section == "C":
        return "a bank coded as manufacturing"
    if any(w in text for w in ("universit", "polytechnic")) and section not in ("", "P"):
        return "a university outside education"
    for place, iso2 in _PLACES.items():
        if place in text and country not in ("", iso2):
            return f"the answer names {place} but the country is {country}"
    return None


@pytest.mark.slow
def test_the_sample_auto_codes_only_right_rows_and_no_absurd_guess(engine: None, tmp_path: Path) -> None:
    out = tmp_path / "employers.csv"
    result = runner.invoke(app, ["employers", str(SAMPLE), "-c", "employer", "-o", str(out), "--show", "0"])
    assert result.exit_code == 0, result.output
    coded = pd.read_csv(out, keep_default_na=False, dtype=str)
    gold = pd.read_csv(GOLD, keep_default_na=False, dtype=str)
    assert list(coded["respondent_id"]) == list(gold["respondent_id"])
    wrong, absurd, auto = [], [], 0
    for row, g in zip(coded.to_dict("records"), gold.to_dict("records"), strict=True):
        section, country = row["employer_isic_section"], row["employer_country"]
        why = _absurd(row["employer"], section, country)
        if why:
            absurd.append((row["employer"], why))
        if row["employer_needs_review"].lower() == "true" or g["gold_isic_section"] == "?":
            continue
        auto += 1
        if g["gold_isic_section"] == "-":
            ok = not row["employer_employer"] and not section  # a non-employer answer: no record, no sector
        else:
            ok = section in _allowed(g["gold_isic_section"]) and country in _allowed(g["gold_country"])
        if not ok:
            wrong.append((row["employer"], section, country, row["employer_confidence"]))
    assert not wrong, f"auto-coded but wrong: {wrong}"
    assert not absurd, absurd
    assert auto >= 4  # the non-employer answers at least are decided without a person


@pytest.mark.slow
def test_demo_codes_the_employer_column_with_the_resolver(engine: None) -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "employer resolver" in result.output and "ISIC Rev.4 divisions (zero-shot" not in result.output
    assert "Singapore Airlines" in result.output and "resolved" in result.output
