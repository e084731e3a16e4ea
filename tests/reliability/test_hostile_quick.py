"""Hostile files, quick: the readers' refusals and reports the full corpus found missing, then four files end to end."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from autocode.service.batch.runner import cell_text
from autocode.service.tables.formats import TableError
from autocode.service.tables.readers import open_reader
from benchmarks.reliability import hostile


@pytest.mark.parametrize("bom", [True, False])
def test_utf16_csv_is_refused_naming_the_file_and_the_encoding(tmp_path: Path, bom: bool) -> None:
    path = tmp_path / "excel-unicode.csv"
    hostile.write_utf16(path, bom=bom)
    with pytest.raises(TableError, match=r"excel-unicode\.csv: the file is UTF-16LE text.*UTF-8"):
        open_reader(path, "answer")


def test_a_header_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("réponse,id\nx,1\n".encode("latin-1"))
    with pytest.raises(TableError, match=r"latin\.csv: the header line is not UTF-8"):
        open_reader(path, "answer")


def test_a_zip_bomb_named_xlsx_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    hostile.write_zip_bomb(path)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(TableError, match=r"bomb\.xlsx: not read: its part xl/worksheets/sheet1\.xml would inflate"):
        open_reader(path, "answer")


def test_a_real_workbook_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "formulas.xlsx"
    hostile.write_xlsx(path)
    assert zipfile.is_zipfile(path)
    with open_reader(path, "answer") as reader:
        assert sum(len(c.cells) for c in reader.chunks()) == 6


def test_nul_bytes_send_the_row_to_review_with_a_reason() -> None:
    assert cell_text("paid\x00the fees", 100) == ("paid the fees", "NUL bytes in the text (a damaged or binary file?)")
    assert cell_text("\x00\x00", 100) == (None, "NUL bytes in the text (a damaged or binary file?)")
    assert cell_text("fine", 100) == ("fine", None)


@pytest.mark.slow
def test_quick_corpus_codes_reports_or_refuses_every_file() -> None:
    checks = hostile.run(quick=True)
    assert len(checks) == sum(h.quick for h in hostile.CORPUS)
    assert all(c.passed for c in checks), "\n".join(f"{c.name}: {c.outcome}" for c in checks if not c.passed)
