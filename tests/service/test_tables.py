"""Streaming readers and writers: exact chunking, bad lines and cells, type unions, atomic files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook, load_workbook

from autocode.service.tables.formats import TableError, read_table, write_table_atomic
from autocode.service.tables.readers import open_reader
from autocode.service.tables.writers import unified_schema, write_parts


def _rows(path: Path, column: str, chunk_rows: int) -> tuple[list[dict], list, list[int]]:
    with open_reader(path, column, chunk_rows=chunk_rows) as reader:
        chunks = list(reader.chunks())
    rows = [r for c in chunks for r in c.table.to_pylist()]
    cells = [v for c in chunks for v in c.cells]
    return rows, cells, [c.table.num_rows for c in chunks]


def test_csv_chunks_are_exact_and_keep_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    lines = ["id,text"] + [f'{i},"answer {i}\nsecond line"' for i in range(25)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open_reader(path, "text", chunk_rows=10) as reader:
        assert reader.estimated_rows() is None  # unknown until some of the file is read
        next(iter(reader.chunks()))
        assert reader.estimated_rows() == 25  # the whole small file is one block
    rows, cells, sizes = _rows(path, "text", 10)
    assert sizes == [10, 10, 5]
    assert [r["id"] for r in rows] == [str(i) for i in range(25)]
    assert cells[3] == b"answer 3\nsecond line"  # raw bytes: decoding is the caller's check


def test_csv_bad_utf8_is_a_bad_cell_and_a_malformed_line_is_skipped_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"id,text,x\n1,fine,a\n2,bad \xff byte,b\n3,too,many,fields\n4,,d\n")
    with open_reader(path, "text", chunk_rows=100) as reader:
        (chunk,) = list(reader.chunks())
        skipped = list(reader.skipped)
    assert chunk.cells == [b"fine", b"bad \xff byte", b""]
    assert chunk.table.column("text").to_pylist() == ["fine", "bad \ufffd byte", ""]  # readable copy for the output
    assert chunk.table.column("x").to_pylist() == ["a", "b", "d"]
    assert [(s.line, s.reason) for s in skipped] == [(4, "expected 3 fields, found 4")]


def test_missing_column_and_bad_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("id\tanswer\n1\tx\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"no column 'text'.*id, answer"):
        open_reader(path, "text")
    with pytest.raises(TableError, match="no such file"):
        open_reader(tmp_path / "none.csv", "text")
    with pytest.raises(TableError, match="unsupported file type"):
        open_reader(path.rename(tmp_path / "c.doc"), "text")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(TableError, match=r"empty\.csv"):
        open_reader(empty, "text")


def test_jsonl_reports_broken_lines_and_keeps_keys_seen_late(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        b'{"id": 1, "text": "one"}\n\n{"id": 2, "text": "two"\n[1, 2]\n'
        b'{"id": 3, "text": "thr\xffee"}\n{"id": 4, "text": null, "late": true}\n'
    )
    with open_reader(path, "text", chunk_rows=2) as reader:
        chunks = list(reader.chunks())
        skipped = [(s.line, s.reason.split(" (")[0]) for s in reader.skipped]
        columns = list(reader.columns)
    assert skipped == [(3, "invalid JSON"), (4, "not a JSON object but list")]
    assert [v for c in chunks for v in c.cells] == ["one", b"thr\xffee", None]
    assert columns == ["id", "text", "late"]
    assert [c.table.column("late").to_pylist() for c in chunks] == [[None, None], [True]]


def test_xlsx_reads_typed_cells_and_drops_trailing_empty_rows(tmp_path: Path) -> None:
    path = tmp_path / "e.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(["id", "text", "when"])
    sheet.append([1, "first", dt.datetime(2024, 5, 1)])
    sheet.append([None, None, None])  # an empty row inside the data stays a row
    sheet.append([3, 12345, None])
    sheet.append([None, None, None])
    book.save(path)
    rows, cells, sizes = _rows(path, "text", 2)
    assert sizes == [2, 1]
    assert cells == ["first", None, 12345]
    assert rows[0] == {"id": 1, "text": "first", "when": dt.datetime(2024, 5, 1)}


def test_parquet_keeps_types_and_knows_its_row_count(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"n": list(range(7)), "text": [f"t{i}" for i in range(7)]}), path, row_group_size=3)
    with open_reader(path, "text", chunk_rows=4) as reader:
        assert reader.total == 7
        sizes = [c.table.num_rows for c in reader.chunks()]
        assert reader.rows_read == reader.estimated_rows() == 7
    assert sizes == [4, 3]
    assert _rows(path, "text", 4)[0][6] == {"n": 6, "text": "t6"}


def test_unified_schema_promotes_or_falls_back_to_text_and_puts_new_columns_last() -> None:
    a = pa.schema([("x", pa.int64()), ("y", pa.string()), ("C_code", pa.string())])
    b = pa.schema([("x", pa.float64()), ("y", pa.int64()), ("late", pa.bool_()), ("C_code", pa.string())])
    got = unified_schema([a, b], last=["C_code"])
    assert got.names == ["x", "y", "late", "C_code"]
    assert got.field("x").type == pa.float64() and got.field("y").type == pa.string()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".xlsx"])
def test_write_parts_concatenates_in_order_in_every_format(tmp_path: Path, suffix: str) -> None:
    parts = []
    for i, table in enumerate(
        [pa.table({"id": [1, 2], "text": ["a", "b, \"quoted\"\nnewline"]}), pa.table({"id": [3], "text": [None], "extra": [1.5]})]
    ):
        parts.append(tmp_path / f"p{i}.parquet")
        pq.write_table(table, parts[-1])
    out = tmp_path / f"out{suffix}"
    assert write_parts(parts, out) == 3
    back = read_table(out)
    assert [str(v) for v in back["id"]] == ["1", "2", "3"]
    assert back["text"].iloc[1] == 'b, "quoted"\nnewline'
    assert list(back.columns) == ["id", "text", "extra"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_whole_file_helpers_still_round_trip_xlsx(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["1", "2"], "text": ["x", "y"]})
    write_table_atomic(frame, tmp_path / "w.xlsx")
    assert load_workbook(tmp_path / "w.xlsx").active["B3"].value == "y"
    assert read_table(tmp_path / "w.xlsx").equals(frame)
    write_table_atomic(frame, tmp_path / "w.jsonl")
    assert json.loads((tmp_path / "w.jsonl").read_text().splitlines()[0]) == {"id": "1", "text": "x"}
