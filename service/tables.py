"""Reading and writing the tables researchers bring: CSV, TSV, XLSX, JSONL, Parquet."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

READERS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".parquet": "parquet"}


class TableError(ValueError):
    """A table that cannot be read or lacks the asked-for column."""


def table_format(path: Path) -> str:
    """The format of a table file, from its suffix."""
    fmt = READERS.get(path.suffix.lower())
    if fmt is None:
        raise TableError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(sorted(READERS))}")
    return fmt


def read_table(path: Path) -> pd.DataFrame:
    """Read a whole table as strings, keeping empty cells as empty strings."""
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
        cols = ", ".join(map(str, frame.columns))
        raise TableError(f"{path}: no column {column!r}; the file has: {cols}")


def write_table_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a table in the format its suffix names; the file appears whole or not at all."""
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if fmt in ("csv", "tsv"):
            frame.to_csv(tmp, sep="," if fmt == "csv" else "\t", index=False)
        elif fmt == "xlsx":
            frame.to_excel(tmp, index=False)
        elif fmt == "jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
