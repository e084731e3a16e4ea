"""Tables researchers bring (CSV, TSV, XLSX, JSONL, Parquet): formats, errors, whole-file I/O (written atomically).

Streaming lives beside this module: `autocode.service.tables.readers` (chunked, bounded-memory reading) and
`autocode.service.tables.writers` (assembling Parquet parts into any format). The whole-file helpers here are
for small tables only (codebooks' examples, review sheets).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from autocode.embeddings.durable import atomic_file
from autocode.errors import InvalidError

if TYPE_CHECKING:  # pandas is imported where a whole table is read: batch runs stream with pyarrow instead
    import pandas as pd

READERS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".parquet": "parquet"}


class TableError(InvalidError):
    """A table that cannot be read or written, or lacks the asked-for column."""

    code = "invalid_table"


def table_format(path: Path) -> str:
    """The format of a table file, from its suffix."""
    fmt = READERS.get(Path(path).suffix.lower())
    if fmt is None:
        raise TableError(f"{path}: unsupported file type {Path(path).suffix!r}; use one of {', '.join(sorted(READERS))}")
    return fmt


def read_table(path: Path) -> pd.DataFrame:
    """Read a whole (small) table as strings, keeping empty cells as empty strings."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: no such file")
    fmt = table_format(path)
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding_errors="replace")
    if fmt == "xlsx":
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def require_column(frame: pd.DataFrame, column: str, path: Path) -> None:
    """Fail with the file and the available columns when a column is missing."""
    if column not in frame.columns:
        raise missing_column(path, column, [str(c) for c in frame.columns])


def missing_column(path: Path, column: str, columns: list[str]) -> TableError:
    """The error for an absent column, naming the columns the file does have."""
    return TableError(f"{path}: no column {column!r}; the file has: {', '.join(columns) or '(no columns)'}")


def write_table_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a whole (small) table in the format its suffix names; the file appears whole or not at all."""
    path = Path(path)
    fmt = table_format(path)
    with atomic_file(path) as tmp:
        if fmt in ("csv", "tsv"):
            frame.to_csv(tmp, sep="," if fmt == "csv" else "\t", index=False)
        elif fmt == "xlsx":
            frame.to_excel(tmp, index=False, engine="openpyxl")
        elif fmt == "jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
