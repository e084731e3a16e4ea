"""Streaming table readers: any supported file as chunks of exactly `chunk_rows` rows, in bounded memory.

Every reader yields `Chunk`s: an Arrow table of all input columns (as they will be written back) and the
coded column's raw cells, so the caller can tell an empty cell, a number and undecodable bytes apart.
Chunk boundaries depend only on the file and `chunk_rows`, which is what makes a run resumable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from autocode.service.tables.formats import TableError, missing_column, table_format

CSV_BLOCK_BYTES = 8 << 20  # one CSV row must fit in a block; memory stays a few blocks
PROBE_BLOCK_BYTES = 1 << 20  # the header line must fit in this to learn the column names
# A worksheet's XML deflates 5-20x; one that claims more than this, and is large, is a ZIP bomb.
XLSX_MAX_RATIO = 200
XLSX_RATIO_FLOOR = 64 << 20  # below this size any ratio is harmless
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32LE"), (b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe", "UTF-16LE"), (b"\xfe\xff", "UTF-16BE"))
_ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


@dataclass
class Chunk:
    """Consecutive rows of a table: every input column, plus the coded column's raw cell values."""

    table: pa.Table
    cells: list[Any]  # str, bytes (maybe not UTF-8), None, numbers ... exactly as stored


@dataclass(frozen=True)
class SkippedLine:
    """A physical line that could not be parsed into a row at all (so it is not in the output)."""

    line: int | None
    reason: str


@dataclass
class TableReader:
    """Base of the streaming readers: iterate `chunks()`; `estimated_rows()` sizes a progress bar."""

    path: Path
    column: str
    chunk_rows: int
    columns: list[str] = field(default_factory=list)
    total: int | None = None  # data rows, where the format records them
    rows_read: int = 0  # rows parsed so far (a little ahead of the chunks handed out)
    skipped: list[SkippedLine] = field(default_factory=list)  # the caller drains it after each chunk

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of exactly `chunk_rows` rows (the last may be shorter), in file order."""
        raise NotImplementedError

    def bytes_read(self) -> int | None:
        """Bytes of the file consumed so far, for formats that count rows only by reading them."""
        return None

    def estimated_rows(self) -> int | None:
        """Data rows in the file: exact where recorded, else extrapolated from the bytes read so far."""
        if self.total is not None:
            return self.total
        read = self.bytes_read()
        if not read or not self.rows_read:
            return None
        return max(self.rows_read, round(self.rows_read * self.path.stat().st_size / read))

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_reader(path: Path, column: str, *, chunk_rows: int = 20_000) -> TableReader:
    """A streaming reader for `path`; fails early, naming the columns, when `column` is absent."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    fmt = table_format(path)
    cls = {"csv": CsvReader, "tsv": CsvReader, "parquet": ParquetReader, "jsonl": JsonlReader, "xlsx": XlsxReader}[fmt]
    reader = cls(path, column, chunk_rows)
    if column not in reader.columns:
        reader.close()
        raise missing_column(path, column, reader.columns)
    return reader


def text_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Binary cells as UTF-8 text; only cells that are not valid UTF-8 get replacement characters."""
    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([None if v is None else v.decode("utf-8", "replace") for v in values.to_pylist()], pa.string())


def clean_text(value: str) -> str:
    """A str that Arrow and every writer accept: lone surrogates (from undecodable bytes) become U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return raw_bytes(value).decode("utf-8", "replace")


def raw_bytes(value: str) -> bytes:
    """The bytes a surrogate-escaped str came from (JSON escapes of lone surrogates kept as such)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def arrow_column(values: list[Any]) -> pa.Array:
    """Python cells as an Arrow column, with their own type when they share one, else as text."""
    try:
        return pa.array(values)
    except _ARROW_ERRORS:
        return pa.array([None if v is None else _as_text(v) for v in values], pa.string())


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict | list):
        return clean_text(json.dumps(value, ensure_ascii=False))
    return str(value)


def rechunk(tables: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Regroup Arrow tables of any size (one schema) into tables of exactly `rows` rows, without copying.

    Readers turn cells into Python objects only after this, one chunk at a time: a CSV block can hold
    far more rows than a chunk.
    """
    buffer: list[pa.Table] = []
    held = 0
    for table in tables:
        buffer.append(table)
        held += table.num_rows
        while held >= rows:
            merged = pa.concat_tables(buffer) if len(buffer) > 1 else buffer[0]
            yield merged.slice(0, rows)
            rest = merged.slice(rows)
            buffer, held = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
    if held:
        yield pa.concat_tables(buffer) if len(buffer) > 1 else buffer[0]


class CsvReader(TableReader):
    """CSV/TSV through pyarrow's streaming reader; every cell read as bytes so bad UTF-8 is a bad cell, not a crash."""

    def __init__(self, path: Path, column: str, chunk_rows: int) -> None:
        super().__init__(path, column, chunk_rows)
        self.delimiter = "\t" if table_format(path) == "tsv" else ","
        wide = _wide_encoding(path)
        if wide:
            # Arrow would read UTF-16 as UTF-8 and fail on the header, or name columns full of NULs.
            raise TableError(f"{path}: the file is {wide} text; autocode reads {table_format(path).upper()} as UTF-8: save it as "
                             f"'CSV UTF-8' (or convert it: iconv -f {wide} -t UTF-8)")
        try:
            probe = pa_csv.open_csv(
                path,
                read_options=pa_csv.ReadOptions(block_size=PROBE_BLOCK_BYTES),
                parse_options=self._parse_options(lambda row: "skip"),
                convert_options=pa_csv.ConvertOptions(check_utf8=False),
            )
            self.columns = list(probe.schema.names)
        except pa.ArrowInvalid as exc:
            hint = (f" (the header line is longer than {PROBE_BLOCK_BYTES:,} bytes)"
                    if "cannot infer number of columns" in str(exc) and path.stat().st_size else "")
            raise TableError(f"{path}: cannot read as {table_format(path).upper()}: {exc}{hint}") from exc
        except UnicodeDecodeError as exc:  # column names are decoded as UTF-8
            raise TableError(f"{path}: the header line is not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8") from exc
        self._file: pa.NativeFile | None = None

    def _parse_options(self, handler: Any) -> pa_csv.ParseOptions:
        # Survey answers hold line breaks inside quoted cells; the slower parser that allows them is the price.
        return pa_csv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=handler)

    def _on_invalid(self, row: Any) -> str:
        self.skipped.append(SkippedLine(row.number, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of exactly `chunk_rows` rows; malformed lines are skipped into `skipped`."""
        self.close()
        self._file = pa.OSFile(str(self.path), "r")  # Arrow's own file: blocks never become Python bytes
        reader = pa_csv.open_csv(
            self._file,
            # One thread: deterministic chunking, and pyarrow only knows line numbers when reading serially.
            read_options=pa_csv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
            parse_options=self._parse_options(self._on_invalid),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.binary() for name in self.columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        index = self.columns.index(self.column)
        for table in rechunk(self._batches(reader), self.chunk_rows):
            columns = [text_array(col) for col in table.columns]
            yield Chunk(pa.Table.from_arrays(columns, names=self.columns), table.column(index).to_pylist())

    def _batches(self, reader: pa_csv.CSVStreamingReader) -> Iterator[pa.Table]:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise TableError(f"{self.path}: cannot read past byte {self.bytes_read()}: {exc}") from exc
            self.rows_read += batch.num_rows
            yield pa.Table.from_batches([batch])

    def bytes_read(self) -> int | None:
        """Bytes consumed so far (pyarrow reads a block ahead, so early estimates run high)."""
        return self._file.tell() if self._file is not None and not self._file.closed else None

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()


class ParquetReader(TableReader):
    """Parquet by record batches; columns keep their own Arrow types."""

    def __init__(self, path: Path, column: str, chunk_rows: int) -> None:
        super().__init__(path, column, chunk_rows)
        try:
            self._file = pq.ParquetFile(path)
        except pa.ArrowException as exc:
            raise TableError(f"{path}: not a readable Parquet file: {exc}") from exc
        self.columns = list(self._file.schema_arrow.names)
        self.total = self._file.metadata.num_rows

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of exactly `chunk_rows` rows."""
        self.rows_read = 0
        batches = (pa.Table.from_batches([b]) for b in self._file.iter_batches(batch_size=self.chunk_rows))
        for table in rechunk(batches, self.chunk_rows):
            self.rows_read += table.num_rows
            yield Chunk(table, table.column(self.column).to_pylist())

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class JsonlReader(TableReader):
    """JSON Lines, one object per line; a line that is not a JSON object is skipped and reported."""

    PEEK_LINES = 1000

    def __init__(self, path: Path, column: str, chunk_rows: int) -> None:
        super().__init__(path, column, chunk_rows)
        self._fh: BinaryIO | None = None
        self._known: set[str] = set()
        # Keys are discovered as lines are read; peeking at the head lets a wrong --column fail at once.
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh):
                if n >= self.PEEK_LINES:
                    break
                obj = _parse_line(raw)
                if isinstance(obj, dict):
                    self._note_keys(obj)

    def _note_keys(self, obj: dict[str, Any]) -> None:
        for key in obj:
            if key not in self._known:
                self._known.add(key)
                self.columns.append(key)

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of exactly `chunk_rows` objects; blank lines are ignored, broken ones skipped."""
        self.close()
        self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open across yields for bytes_read(); close() shuts it
        rows: list[dict[str, Any]] = []
        for number, raw in enumerate(self._fh, start=1):
            if not raw.strip():
                continue
            obj = _parse_line(raw)
            if isinstance(obj, str):
                self.skipped.append(SkippedLine(number, obj))
                continue
            self._note_keys(obj)
            rows.append(obj)
            self.rows_read += 1
            if len(rows) == self.chunk_rows:
                yield self._chunk(rows)
                rows = []
        if rows:
            yield self._chunk(rows)

    def _chunk(self, rows: list[dict[str, Any]]) -> Chunk:
        cells = [_raw_cell(row.get(self.column)) for row in rows]
        arrays = [arrow_column([_display(row.get(name)) for row in rows]) for name in self.columns]
        return Chunk(pa.Table.from_arrays(arrays, names=list(self.columns)), cells)

    def bytes_read(self) -> int | None:
        """Bytes consumed so far."""
        return self._fh.tell() if self._fh is not None and not self._fh.closed else None

    def close(self) -> None:
        """Close the file handle."""
        if self._fh is not None:
            self._fh.close()


def _wide_encoding(path: Path) -> str | None:
    """UTF-16 or UTF-32, when the file starts with its byte-order mark or has every other byte NUL; else None."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            return name
    if len(head) >= 8:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.9 * len(odd):
            return "UTF-16LE"
        if even.count(0) > 0.9 * len(even):
            return "UTF-16BE"
    return None


def _parse_line(raw: bytes) -> dict[str, Any] | str:
    """The object on a line, or the reason it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")  # keep the bad bytes: the cell they are in is reported
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON ({exc.msg} at column {exc.colno})"
    return obj if isinstance(obj, dict) else f"not a JSON object but {type(obj).__name__}"


def _raw_cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return raw_bytes(value)
    return value


def _display(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


class XlsxReader(TableReader):
    """The first worksheet of an XLSX workbook, row by row (openpyxl read-only mode)."""

    def __init__(self, path: Path, column: str, chunk_rows: int) -> None:
        super().__init__(path, column, chunk_rows)
        import openpyxl  # only XLSX runs pay for importing it

        _refuse_zip_bomb(path)
        try:
            self._book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise TableError(f"{path}: not a readable XLSX workbook: {exc}") from exc
        self._sheet = self._book.worksheets[0]
        header = list(next(self._sheet.iter_rows(max_row=1, values_only=True), ()))
        while header and header[-1] is None:
            header.pop()  # formatted but empty columns at the right are not data
        self.columns = [f"column_{i + 1}" if h is None else str(h) for i, h in enumerate(header)]
        rows = self._sheet.max_row
        self.total = rows - 1 if rows else None

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of exactly `chunk_rows` rows; wholly empty rows at the end are dropped, as pandas does."""
        width = len(self.columns)
        rows: list[tuple[Any, ...]] = []
        empty_run = 0
        self.rows_read = 0
        for values in self._sheet.iter_rows(min_row=2, values_only=True):
            cells = (tuple(values) + (None,) * width)[:width]
            if all(v is None or v == "" for v in cells):
                empty_run += 1  # kept only if a non-empty row follows
                continue
            for row in [(None,) * width] * empty_run + [cells]:
                rows.append(row)
                if len(rows) == self.chunk_rows:
                    yield self._chunk(rows)
                    rows = []
            empty_run = 0
        if rows:
            yield self._chunk(rows)

    def _chunk(self, rows: list[tuple[Any, ...]]) -> Chunk:
        self.rows_read += len(rows)
        index = self.columns.index(self.column)
        arrays = [arrow_column([row[i] for row in rows]) for i in range(len(self.columns))]
        return Chunk(pa.Table.from_arrays(arrays, names=list(self.columns)), [row[index] for row in rows])

    def close(self) -> None:
        """Close the workbook."""
        self._book.close()


def _refuse_zip_bomb(path: Path) -> None:
    """TableError for a workbook a part of which would inflate far past any real sheet (openpyxl would hold it in memory)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise TableError(f"{path}: not a readable XLSX workbook: {exc}") from exc
    for part in parts:
        if part.file_size > XLSX_RATIO_FLOOR and part.file_size > XLSX_MAX_RATIO * max(1, part.compress_size):
            raise TableError(f"{path}: not read: its part {part.filename} would inflate from {part.compress_size:,} to "
                             f"{part.file_size:,} bytes (over {XLSX_MAX_RATIO}x: a ZIP bomb, not a worksheet)")
