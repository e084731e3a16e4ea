"""Hostile files: `autocode code` on broken, odd and malicious tables must code, report or refuse, never crash or hang.

Each file is generated in a temp folder and coded by a real `autocode code FILE -c COLUMN --codebook
employer-support -o OUT` subprocess under a time bound. A file passes when autocode either coded it (the
planted bad rows reported on stderr by row or line number) or refused it with one `error:` line naming the
file; it fails on a traceback, an exit status other than 0 or 2, a run past the bound, or a silent outcome.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.reliability.common import Check

PART = "hostile files"
AUTOCODE = Path(sys.executable).with_name("autocode")
CODEBOOK = "employer-support"
COLUMN = "answer"
GOOD = ["my employer paid the full course fee", "they gave me study leave", "no support at all", "paid half the fees"]
_REPORT = re.compile(r"^(row|line) (\d+|\?): ", re.MULTILINE)


@dataclass(frozen=True)
class Hostile:
    """One hostile file: how to write it, and what a good outcome must show."""

    name: str  # file name (its suffix picks the reader)
    what: str  # the hazard, in words
    write: Callable[[Path], None]
    reports: int = 0  # bad rows or lines planted: a run that codes the file must report at least this many
    column: str = COLUMN
    quick: bool = False  # in the suite's quick version
    out_suffix: str = ".csv"  # the output's format
    max_rss_mb: float | None = None  # a peak memory the run must stay under


def _csv(rows: list[bytes], header: bytes = b"id,answer") -> bytes:
    return b"\n".join([header, *rows]) + b"\n"


def _good_rows(start: int = 1) -> list[bytes]:
    return [f"{start + i},{text}".encode() for i, text in enumerate(GOOD)]


def write_latin1(path: Path) -> None:
    """A CSV saved as Latin-1: accented answers are not valid UTF-8."""
    rows = [f"{i},{t}".encode("latin-1") for i, t in enumerate(["mon employeur a payé", "congé d'étude payé", "rien du tout"], 1)]
    path.write_bytes(_csv(rows))


def write_utf16(path: Path, *, bom: bool) -> None:
    """The whole CSV in UTF-16 (what Excel's 'Unicode text' writes), with or without its byte-order mark."""
    text = "id,answer\n" + "".join(f"{i},{t}\n" for i, t in enumerate(GOOD, 1))
    path.write_bytes(text.encode("utf-16" if bom else "utf-16-le"))


def write_mixed(path: Path) -> None:
    """Rows in UTF-8, Latin-1, cp1252 and a UTF-8 BOM mid-file: only the undecodable cells are bad."""
    rows = [b"1,my employer paid the fees", "2,employeur a payé".encode("latin-1"), "3,they paid \u20ac500".encode("cp1252"),
            "4,caf\u00e9 paid by the firm".encode(), b"5,\xef\xbb\xbfstudy leave", "6,\u4e0a\u53f8\u4ed8\u4e86\u5b66\u8d39".encode()]
    path.write_bytes(_csv(rows))


def write_nul(path: Path) -> None:
    """NUL bytes inside cells, a NUL-only cell, and a NUL in the header's padding."""
    rows = [b"1,paid\x00the fees", b"2,\x00\x00\x00", b"3,study leave\x00", *_good_rows(4)]
    path.write_bytes(_csv(rows))


def write_ragged(path: Path) -> None:
    """Rows with too few and too many fields, then a quote that never closes."""
    rows = [*_good_rows(), b"5", b"6,paid,extra,fields", b'7,"an answer, quoted', b"8,never seen because the quote swallows it"]
    path.write_bytes(_csv(rows))


def write_big_cell(path: Path) -> None:
    """One 10 MB cell between ordinary rows."""
    with open(path, "wb") as fh:
        fh.write(b"id,answer\n1,paid the fees\n2,")
        fh.write(b"fees " * (2 * 1024 * 1024))
        fh.write(b"\n3,study leave\n")


def write_wide(path: Path) -> None:
    """A header of a million columns (the answer column first), and two rows."""
    n = 1_000_000
    with open(path, "wb") as fh:
        fh.write(b"answer," + b",".join(b"c%d" % i for i in range(1, n)) + b"\n")
        for text in (b"paid the fees", b"study leave"):
            fh.write(text + b"," * (n - 1) + b"\n")


def write_empty(path: Path) -> None:
    """Zero bytes."""
    path.write_bytes(b"")


def write_header_only(path: Path) -> None:
    """A header and no rows."""
    path.write_bytes(b"id,answer\n")


def write_xlsx(path: Path) -> None:
    """A workbook with formulas (no cached values, as openpyxl saves them), merged cells and a second sheet."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", COLUMN, "n"])
    sheet.append([1, "my employer paid the fees", 3])
    sheet.append([2, '=CONCATENATE("paid ","leave")', "=C2*2"])
    sheet.append([3, "merged answer", None])
    sheet.append([4, None, None])
    sheet.append([5, "=1/0", None])
    sheet.append([6, "they gave me study leave", None])
    sheet.merge_cells("B4:B5")
    book.create_sheet("other").append(["ignored"])
    book.save(path)


def write_zip_bomb(path: Path) -> None:
    """A ZIP whose worksheet inflates to 1 GiB (from about 1 MB), with the parts an XLSX has, renamed .xlsx."""
    head = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>answer</t></is></c></row>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(head)
            block = b" " * (1 << 20)
            for _ in range(1024):
                fh.write(block)  # whitespace between rows: valid XML, so only size stops a reader
            fh.write(b"</sheetData></worksheet>")


_CONTENT_TYPES = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  '<Default Extension="xml" ContentType="application/xml"/>'
                  '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                  '<Override PartName="/xl/worksheets/sheet1.xml" '
                  'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
_RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
         'Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = ('<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
             'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
             '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                  'Target="worksheets/sheet1.xml"/></Relationships>')


def write_not_a_zip(path: Path) -> None:
    """A CSV renamed .xlsx."""
    path.write_bytes(_csv(_good_rows()))


def write_parquet_missing(path: Path) -> None:
    """Parquet without the asked-for column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2], "text": GOOD[:2]}), path)


def write_parquet_wrong_type(path: Path) -> None:
    """Parquet whose answer column holds numbers, lists, structs and nulls instead of text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2, 3], COLUMN: [[1, 2], None, [3]], "n": [{"a": 1}, {"a": 2}, None]}), path)


def write_parquet_ints(path: Path) -> None:
    """Parquet whose answer column is int64 with a null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2, 3], COLUMN: pa.array([7, None, 42], pa.int64())}), path)


def write_truncated_parquet(path: Path) -> None:
    """A Parquet file cut in half."""
    write_parquet_ints(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_jsonl(path: Path) -> None:
    """JSON Lines with broken lines: bad JSON, an array, a bare string, bad UTF-8, a huge number, a nested answer."""
    lines = [json.dumps({"id": 1, COLUMN: GOOD[0]}).encode(), b'{"id": 2, "answer": "unterminated', b"[1, 2, 3]", b'"just a string"',
             b'{"id": 5, "answer": "caf\xe9"}', b'{"id": 6, "answer": 1e999999}', json.dumps({"id": 7, COLUMN: {"nested": ["x"]}}).encode(),
             b"", json.dumps({"id": 8, "other": "no answer key"}).encode(), b"\x00\x00", json.dumps({"id": 9, COLUMN: GOOD[1]}).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")


CORPUS: list[Hostile] = [
    Hostile("latin1.csv", "Latin-1 bytes", write_latin1, reports=2, quick=True),
    Hostile("utf16-bom.csv", "UTF-16 with BOM", lambda p: write_utf16(p, bom=True)),
    Hostile("utf16-nobom.csv", "UTF-16-LE without BOM", lambda p: write_utf16(p, bom=False)),
    Hostile("mixed.csv", "mixed encodings per row", write_mixed, reports=2),
    Hostile("nul.csv", "NUL bytes in cells", write_nul, reports=3),
    Hostile("nul-to-xlsx.csv", "NUL bytes in cells, written to XLSX", write_nul, reports=3, out_suffix=".xlsx"),
    Hostile("ragged.csv", "ragged rows and an unterminated quote", write_ragged, reports=2, quick=True),
    Hostile("big-cell.csv", "a 10 MB cell", write_big_cell, reports=1),
    Hostile("wide.csv", "a header of 1,000,000 columns", write_wide),
    Hostile("empty.csv", "an empty file", write_empty, quick=True),
    Hostile("header-only.csv", "a header and no rows", write_header_only),
    Hostile("formulas.xlsx", "XLSX with formulas and merged cells", write_xlsx, reports=2),
    Hostile("bomb.xlsx", "a ZIP bomb (1 MB → 1 GiB) renamed .xlsx", write_zip_bomb, max_rss_mb=1500),
    Hostile("csv-renamed.xlsx", "a CSV renamed .xlsx", write_not_a_zip),
    Hostile("missing-column.parquet", "Parquet without the column", write_parquet_missing),
    Hostile("wrong-type.parquet", "Parquet, column of lists (not text)", write_parquet_wrong_type, reports=1),
    Hostile("ints.parquet", "Parquet, column of int64 with a null", write_parquet_ints, reports=1),
    Hostile("truncated.parquet", "Parquet cut in half", write_truncated_parquet),
    Hostile("broken.jsonl", "JSONL with broken lines", write_jsonl, reports=5, quick=True),
]


@dataclass
class Outcome:
    """What one `autocode code` run did."""

    status: str  # coded, refused, crashed, hung
    rc: int | None
    stderr: str
    seconds: float
    rows: int | None = None  # rows in the output, when it coded
    reports: list[str] | None = None  # "row N: reason" / "line N: reason" lines
    peak_rss_mb: float | None = None


def run_autocode(path: Path, column: str, out: Path, home: Path, bound: float) -> Outcome:
    """`autocode code` on one file in a subprocess, killed past `bound` seconds; its status, stderr and peak RSS."""
    env = {**os.environ, "AUTOCODE_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen([str(AUTOCODE), "code", str(path), "-c", column, "--codebook", CODEBOOK, "-o", str(out), "--show", "0"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err_file, start_new_session=True)
        status = rusage = None
        while time.perf_counter() - t0 < bound:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.killpg(proc.pid, 9)
            os.wait4(proc.pid, 0)
            status = None
        proc.returncode = -1  # reaped by wait4 above; keep Popen from waiting again
        err_file.seek(0)
        stderr = err_file.read().decode("utf-8", "replace")
    seconds = time.perf_counter() - t0
    peak = rusage.ru_maxrss / 1024 if rusage is not None else None
    if status is None:
        return Outcome("hung", None, stderr, seconds, peak_rss_mb=peak)
    rc = os.waitstatus_to_exitcode(status)
    if rc == 0:
        return Outcome("coded", rc, stderr, seconds, rows=_output_rows(out, column), reports=_REPORT.findall(stderr) and
                       [m.group(0) + stderr[m.end():].split("\n", 1)[0] for m in _REPORT.finditer(stderr)], peak_rss_mb=peak)
    return Outcome("refused" if rc == 2 else "crashed", rc, stderr, seconds, peak_rss_mb=peak)


def _output_rows(out: Path, column: str) -> int | None:
    from autocode.service.tables.readers import open_reader

    try:
        with open_reader(out, column, chunk_rows=10_000) as reader:
            return sum(len(chunk.cells) for chunk in reader.chunks())
    except Exception:  # noqa: BLE001 - an unreadable output is a failure of the check, reported as such
        return None


def judge(item: Hostile, path: Path, got: Outcome) -> tuple[bool, str]:
    """Whether the outcome keeps the promise, and what happened in words."""
    where = f"{got.seconds:.1f} s" + (f", peak RSS {got.peak_rss_mb:,.0f} MB" if got.peak_rss_mb else "")
    if "Traceback" in got.stderr:
        return False, f"traceback (exit {got.rc}): {_last_line(got.stderr)} ({where})"
    if item.max_rss_mb and got.peak_rss_mb and got.peak_rss_mb > item.max_rss_mb:
        return False, f"{got.status}, but peak RSS {got.peak_rss_mb:,.0f} MB is over {item.max_rss_mb:,.0f} MB ({where})"
    if got.status == "hung":
        return False, f"still running past the bound, killed ({where})"
    if got.status == "crashed":
        return False, f"exit {got.rc}: {_last_line(got.stderr)} ({where})"
    if got.status == "refused":
        message = _error_line(got.stderr)
        if message is None:
            return False, f"exit 2 without an error line: {_last_line(got.stderr)} ({where})"
        if path.name not in message:
            return False, f"refused without naming the file: {message[:200]} ({where})"
        return True, f"refused: {message.replace(str(path.parent) + os.sep, '')[:220]} ({where})"
    reports = got.reports or []
    if got.rows is None:
        return False, f"exit 0 but the output cannot be read ({where})"
    if len(reports) < item.reports:
        return False, f"coded {got.rows} rows but reported {len(reports)} of {item.reports} planted bad rows ({where})"
    shown = "; ".join(r[:70] for r in reports[:3]) + (f"; +{len(reports) - 3} more" if len(reports) > 3 else "")
    return True, f"coded {got.rows} rows, reported {len(reports)}" + (f" ({shown})" if shown else "") + f" ({where})"


def _error_line(stderr: str) -> str | None:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    if not lines:
        return None
    # The console wraps nothing (soft_wrap), but a message may hold newlines from the file itself.
    start = stderr.index(lines[0])
    return " ".join(stderr[start:].split())


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "(no stderr)")[:200]


def run(quick: bool = False) -> list[Check]:
    """One check per hostile file (quick: four of them)."""
    checks = []
    bound = 120.0
    with tempfile.TemporaryDirectory(prefix="autocode-hostile-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        for item in [h for h in CORPUS if h.quick or not quick]:
            path = root / item.name
            item.write(path)
            t0 = time.perf_counter()
            got = run_autocode(path, item.column, root / f"out-{path.stem}{item.out_suffix}", home, bound)
            passed, outcome = judge(item, path, got)
            checks.append(Check(PART, f"{item.what} ({item.name}, {_size(path)})", 1, 0 if passed else 1, outcome,
                                time.perf_counter() - t0))
            path.unlink()  # the corpus holds a few big files: keep the temp folder small
    return checks


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n:,} B"


__all__ = ["CORPUS", "Hostile", "Outcome", "judge", "run", "run_autocode"]

if __name__ == "__main__":  # a quick look at one file: python -m benchmarks.reliability.hostile NAME
    picked = [h for h in CORPUS if h.name in sys.argv[1:]] or CORPUS
    with tempfile.TemporaryDirectory() as tmp:
        for item in picked:
            p = Path(tmp) / item.name
            item.write(p)
            o = run_autocode(p, item.column, Path(tmp) / f"out{item.out_suffix}", Path(tmp), 120)
            print(item.name, judge(item, p, o), "\n", o.stderr[-1500:], "\n" + "-" * 60)
