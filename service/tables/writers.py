"""Streaming table writers: Parquet part files assembled, one part at a time, into any supported format.

Parts may disagree on a column's type (JSONL and XLSX types are inferred per chunk) or lack a column
(a JSONL key first seen late); the output schema is their union, promoted or else text.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from autocode.embeddings.durable import atomic_file
from autocode.service.tables.formats import TableError, table_format

XLSX_MAX_ROWS = 1_048_576  # Excel's sheet limit, header included
XLSX_MAX_CELL = 32_767


def unified_schema(schemas: Sequence[pa.Schema], last: Sequence[str] = ()) -> pa.Schema:
    """Every column of every schema in first-seen order, `last` moved to the end; conflicting types promoted."""
    types: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            types.setdefault(f.name, []).append(f.type)
    names = [n for n in types if n not in last] + [n for n in last if n in types]
    return pa.schema([pa.field(n, _common_type(types[n])) for n in names])


def _common_type(found: list[pa.DataType]) -> pa.DataType:
    distinct = list(dict.fromkeys(found))
    if len(distinct) == 1:
        return distinct[0]
    try:
        merged = pa.unify_schemas([pa.schema([("x", t)]) for t in distinct], promote_options="permissive")
        return merged.field("x").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.string()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns, order and types; missing columns are nulls."""
    arrays = []
    for f in schema:
        if f.name in table.column_names:
            arrays.append(_cast(table.column(f.name), f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _cast(values: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray | pa.Array:
    if values.type == target:
        return values
    try:
        return values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # Only reached with target string (see _common_type): nested values become JSON text.
        return pa.array([None if v is None else _text(v) for v in values.to_pylist()], target)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def write_parts(parts: Sequence[Path], output: Path, *, last: Sequence[str] = (), tag: str | None = None) -> int:
    """Concatenate Parquet `parts` into `output` (format from its suffix) atomically; returns the rows written."""
    output = Path(output)
    fmt = table_format(output)
    schema = unified_schema([pq.read_schema(p) for p in parts], last)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    if fmt == "xlsx" and rows + 1 > XLSX_MAX_ROWS:
        raise TableError(f"{output}: {rows} rows do not fit in one Excel sheet ({XLSX_MAX_ROWS - 1} at most); write .csv or .parquet")
    tables = (conform(pq.read_table(p), schema) for p in parts)
    with atomic_file(output, tag) as tmp:
        if fmt in ("csv", "tsv"):
            _write_csv(tables, schema, tmp, "," if fmt == "csv" else "\t")
        elif fmt == "jsonl":
            _write_jsonl(tables, tmp)
        elif fmt == "parquet":
            with pq.ParquetWriter(tmp, schema) as writer:
                for table in tables:
                    writer.write_table(table)
        else:
            _write_xlsx(tables, schema, tmp)
    return rows


def _write_csv(tables: Iterator[pa.Table], schema: pa.Schema, path: Path, delimiter: str) -> None:
    # Python's csv module quotes only where needed, so unchanged input cells read back as they were written.
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(schema.names)
        for table in tables:
            writer.writerows(zip(*(_csv_column(column) for column in table.columns), strict=True))


def _csv_column(column: pa.ChunkedArray) -> list[Any]:
    """A column's CSV cells; columns with no null, NaN or nested value skip the per-cell conversion."""
    import pyarrow.compute as pc  # here, not at import: it costs cold start on paths that never write CSV

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.fill_null("").to_pylist() if column.null_count else column.to_pylist()
    if (pa.types.is_integer(kind) or pa.types.is_boolean(kind)) and not column.null_count:
        return column.to_pylist()
    if pa.types.is_floating(kind) and not column.null_count and not pc.any(pc.is_nan(column)).as_py():
        return column.to_pylist()
    return [_csv_value(v) for v in column.to_pylist()]


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _write_jsonl(tables: Iterator[pa.Table], path: Path) -> None:
    with open(path, "wb") as fh:
        for table in tables:
            lines = (json.dumps(_json_row(row), ensure_ascii=False, default=_json_default) for row in table.to_pylist())
            fh.write("".join(line + "\n" for line in lines).encode("utf-8"))


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    # NaN is not JSON; a missing number is null.
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _write_xlsx(tables: Iterator[pa.Table], schema: pa.Schema, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(schema.names)
    for table in tables:
        for row in table.to_pylist():
            sheet.append([_xlsx_value(v) for v in row.values()])
    book.save(path)


def _xlsx_value(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones
    if isinstance(value, str):
        # Control characters are illegal in the sheet XML, and Excel cuts cells at 32,767 characters.
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)[:XLSX_MAX_CELL]
    return value
