"""The reference gazetteer: employers (listed companies, universities, airlines, registry organisations, brands,
large employers, index constituents) with sector and country."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from importlib.resources import files
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["COLUMNS", "SCHEMA", "SOURCES", "GazetteerRecord", "load_gazetteer"]

SOURCES: tuple[str, ...] = (
    "companies", "universities", "airlines", "organisations", "brands", "large_employers", "index_constituents",
)

# One schema for all the files, so they concatenate without casts and a reader can rely on the types.
SCHEMA = pa.schema(
    [
        ("record_id", pa.int64()),
        ("name", pa.string()),
        ("aliases", pa.list_(pa.string())),
        ("ambiguous_aliases", pa.list_(pa.string())),
        ("legal_forms", pa.list_(pa.string())),
        ("source", pa.string()),
        ("isic_section", pa.string()),
        ("isic_division", pa.string()),
        ("isic_basis", pa.string()),
        ("gics_sector", pa.string()),
        ("gics_industry_group", pa.string()),
        ("gics_industry", pa.string()),
        ("gics_industry_code", pa.string()),
        ("country", pa.string()),
        ("region", pa.string()),
        ("subregion", pa.string()),
        ("city", pa.string()),
        ("domain", pa.string()),
        ("summary", pa.string()),
        ("source_id", pa.string()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
LIST_COLUMNS: tuple[str, ...] = ("aliases", "ambiguous_aliases", "legal_forms")


@dataclass(frozen=True)
class GazetteerRecord:
    """One reference employer; empty strings where the source does not say."""

    record_id: int
    name: str
    aliases: tuple[str, ...]
    ambiguous_aliases: tuple[str, ...]  # short forms shared with another record: a hint, never proof
    legal_forms: tuple[str, ...]
    source: str
    isic_section: str
    isic_division: str
    isic_basis: str  # "gics_industry" | ... | "source" | "ror_type:education" | "name_words" | "reviewed" | ...
    # brands: country empty (a multinational; the answer's cue gives the country)
    gics_sector: str
    gics_industry_group: str
    gics_industry: str
    gics_industry_code: str
    country: str  # ISO 3166 alpha-2
    region: str  # M49 region name
    subregion: str  # M49 sub-region (intermediate region in the Americas and sub-Saharan Africa)
    city: str
    domain: str  # web domains, "|"-separated where several
    summary: str
    source_id: str = ""  # the source's own id (ROR id, ticker); empty where it has none

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> GazetteerRecord:
        """Build a record from a gazetteer row (a dict, or a pandas Series)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            # Columns added later (source_id) default for frames built before them.
            value: Any = row.get(f.name, f.default)
            if f.name in LIST_COLUMNS:
                value = tuple(value)
            elif f.name == "record_id":
                value = int(value)
            values[f.name] = value
        return cls(**values)


@functools.cache
def _read(source: str) -> pd.DataFrame:
    # Read once per process; callers get new frames and list cells become tuples, so nobody edits the cache.
    with (files("autocode.data") / "gazetteer" / f"{source}.parquet").open("rb") as handle:
        frame = pq.read_table(handle, schema=SCHEMA).to_pandas()
    for column in LIST_COLUMNS:
        frame[column] = [tuple(value) for value in frame[column]]
    return frame


def load_gazetteer(sources: Iterable[str] = SOURCES) -> pd.DataFrame:
    """The gazetteer rows of the given sources, as one frame with a fresh 0..n-1 index (list cells as tuples)."""
    wanted = list(dict.fromkeys(sources))
    unknown = [s for s in wanted if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown gazetteer source(s) {unknown}; choose from {list(SOURCES)}")
    if not wanted:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in COLUMNS})
    return pd.concat([_read(s) for s in wanted], ignore_index=True)
