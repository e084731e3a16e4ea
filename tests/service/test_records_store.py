"""The embedded record store: CRUD, validation that names the field, imports, persistence, WAL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autocode.classifiers.employers.gazetteer import COLUMNS, load_gazetteer
from autocode.service.stores.records import USER_ID_BASE, RecordError, RecordStore, default_store_path
from autocode.service.tables.formats import TableError


@pytest.fixture(scope="module")
def gazetteer() -> pd.DataFrame:
    return load_gazetteer()


@pytest.fixture
def dbs(gazetteer: pd.DataFrame) -> dict[str, Any]:
    return gazetteer[gazetteer["name"] == "DBS Group Holdings Ltd"].iloc[0].to_dict()


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    with RecordStore(tmp_path / "records.sqlite3") as s:
        yield s


def test_default_path_is_under_autocode_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOCODE_HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / "records.sqlite3"
    with RecordStore() as s:
        assert s.path == tmp_path / "home" / "records.sqlite3" and s.path.is_file()


def test_add_assigns_user_ids_and_fills_derived_fields(store: RecordStore) -> None:
    first = store.add({"name": " Acme Widgets Pte Ltd ", "country": "sg", "isic_division": "28", "aliases": "Acme|Acme Widgets|Acme"})
    second = store.add({"name": "Beta Labs", "country": "Malaysia", "record_id": 5})  # an id on add is ignored
    assert first == USER_ID_BASE and second == USER_ID_BASE + 1
    row = store.get(first)
    assert row is not None
    assert row["name"] == "Acme Widgets Pte Ltd" and row["aliases"] == ("Acme", "Acme Widgets")
    assert (row["country"], row["region"], row["subregion"]) == ("SG", "Asia", "South-eastern Asia")
    assert (row["isic_section"], row["isic_division"], row["isic_basis"], row["source"]) == ("C", "28", "user", "user")
    assert row["created_at"] == row["updated_at"]
    assert store.get(second)["country"] == "MY"  # type: ignore[index]
    assert store.count() == 2 and [r["record_id"] for r in store.list(limit=1, offset=1)] in ([first], [second])


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"name": "  "}, "name"),
        ({"country": "SG"}, "name"),
        ({"name": "x", "country": "XX"}, "country"),
        ({"name": "x", "isic_division": "00"}, "isic_division"),
        ({"name": "x", "isic_section": "Z"}, "isic_section"),
        ({"name": "x", "isic_section": "C", "isic_division": "64"}, "isic_section"),
    ],
)
def test_bad_records_are_refused_naming_the_field(store: RecordStore, record: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordError, match=rf"^{field}: "):
        store.add(record)
    assert store.count() == 0 and store.version == 0


def test_correcting_a_user_record_keeps_the_rest_and_rederives(store: RecordStore) -> None:
    rid = store.add({"name": "Acme Widgets Pte Ltd", "country": "SG", "isic_division": "28"})
    before = store.version
    assert store.upsert({"record_id": rid, "isic_division": "62"}) == rid
    row = store.get(rid)
    assert (row["name"], row["isic_section"], row["isic_division"], row["country"]) == ("Acme Widgets Pte Ltd", "J", "62", "SG")  # type: ignore[index]
    store.upsert({"record_id": str(rid), "country": "TH"})
    assert (store.get(rid)["region"], store.get(rid)["subregion"]) == ("Asia", "South-eastern Asia")  # type: ignore[index]
    assert store.version == before + 2
    for ghost in (rid + 100, 12345):
        with pytest.raises(RecordError, match=f"^record_id: no record {ghost} "):
            store.upsert({"record_id": ghost, "name": "ghost"})
    with pytest.raises(RecordError, match=r"^record_id: required"):
        store.upsert({"name": "no id"})


def test_correcting_and_removing_a_gazetteer_record(store: RecordStore, gazetteer: pd.DataFrame, dbs: dict[str, Any]) -> None:
    rid = int(dbs["record_id"])
    store.upsert({"record_id": rid, "isic_division": "62"})  # partial: starts from the gazetteer's row
    row = store.get(rid)
    assert row["name"] == dbs["name"] and row["aliases"] == dbs["aliases"] and row["source"] == "companies"  # type: ignore[index]
    assert (row["isic_section"], row["isic_division"], row["isic_basis"]) == ("J", "62", "user")  # type: ignore[index]
    merged = store.merged(gazetteer)
    assert len(merged) == len(gazetteer) and list(merged.columns) == list(COLUMNS)
    assert merged.loc[merged["record_id"] == rid, "isic_division"].tolist() == ["62"]

    assert store.remove(rid) is True
    assert store.get(rid) is None and store.removed_ids() == {rid}
    assert rid not in set(store.merged(gazetteer)["record_id"]) and len(store.merged(gazetteer)) == len(gazetteer) - 1
    assert store.remove(rid) is False  # already hidden
    assert store.remove(12345) is False  # in the gazetteer's id range but no such record

    store.upsert({"record_id": rid, "country": "HK"})  # a correction brings it back
    assert store.removed_ids() == set()
    assert store.merged(gazetteer).loc[lambda f: f["record_id"] == rid, "country"].tolist() == ["HK"]


def test_removing_a_user_record_deletes_it(store: RecordStore, gazetteer: pd.DataFrame) -> None:
    rid = store.add({"name": "Acme Widgets Pte Ltd"})
    assert rid in set(store.merged(gazetteer)["record_id"])
    assert store.remove(rid) is True and store.get(rid) is None and store.removed_ids() == set()
    assert store.remove(rid) is False
    assert store.add({"name": "Next"}) == rid + 1  # ids are never reused


def test_import_reports_bad_rows_by_number_and_keeps_the_rest(store: RecordStore, tmp_path: Path, dbs: dict[str, Any]) -> None:
    table = tmp_path / "records.csv"
    pd.DataFrame(
        {
            "name": ["Acme Widgets Pte Ltd", "", "Gamma Co", "Delta Sdn Bhd", ""],
            "country": ["SG", "SG", "XX", "MY", ""],
            "isic_division": ["28", "", "", "", "62"],
            "aliases": ["Acme|Acme Widgets", "", "", '["Delta", "DSB"]', ""],
            "record_id": ["", "", "", "", str(dbs["record_id"])],
            "unknown_column": ["a", "b", "c", "d", "e"],
        }
    ).to_csv(table, index=False)
    summary = store.import_table(table)
    assert summary.skipped == [
        "row 2: name: must not be empty",
        "row 3: country: 'XX' is not an ISO 3166 alpha-2 country code in the m49 codebook (e.g. SG, MY, US)",
    ]
    assert len(summary.added) == 2 and summary.updated == [int(dbs["record_id"])]
    names = {r["name"]: r for r in store.list()}
    assert names["Delta Sdn Bhd"]["aliases"] == ("Delta", "DSB")
    assert names["DBS Group Holdings Ltd"]["isic_division"] == "62"
    assert store.version == 1  # one transaction


def test_import_needs_a_name_column(store: RecordStore, tmp_path: Path) -> None:
    table = tmp_path / "records.csv"
    pd.DataFrame({"company": ["Acme"]}).to_csv(table, index=False)
    with pytest.raises(TableError, match=r"no column 'name'.*company"):
        store.import_table(table)


def test_store_persists_across_instances_and_sees_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite3"
    first = RecordStore(path)
    second = RecordStore(path)
    rid = first.add({"name": "Acme Widgets Pte Ltd", "country": "SG"})
    assert second.get(rid)["name"] == "Acme Widgets Pte Ltd" and second.version == first.version  # type: ignore[index]
    second.remove(rid)
    assert first.get(rid) is None
    first.close(), second.close()
    with RecordStore(path) as third:
        assert third.version == 2 and third.add({"name": "After"}) == rid + 1


def test_wal_mode_and_concurrent_writers_get_distinct_ids(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite3"
    RecordStore(path).close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ids: list[int] = []

    def writer(n: int) -> None:
        with RecordStore(path) as s:  # a connection each: as separate processes would have
            ids.extend(s.add({"name": f"Writer {n} record {i}"}) for i in range(10))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == list(range(USER_ID_BASE, USER_ID_BASE + 40))
    with RecordStore(path) as s:
        assert s.count() == 40 and s.version == 40
