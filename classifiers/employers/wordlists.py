"""Reading the employer rules and word lists in data/employers/ (CSV tables and one-entry-a-line lists).

The files are meant to be read and extended by people (data/employers/README.md says how), so every
problem is reported with the file, the line, the row and the field, and names what is allowed instead.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from autocode.errors import InvalidError

__all__ = [
    "DataFileError", "InstitutionWord", "Row", "Source", "data_file", "load_institution_words", "read_rows",
    "read_words", "unique",
]

Source = str | os.PathLike[str] | Traversable
"""A file name inside data/employers/ (a str), or any other file (a path)."""

_ISO2 = re.compile(r"[A-Z]{2}")
_YES_NO = {"yes": True, "no": False}


class DataFileError(InvalidError):
    """A data file, or one row of it, that cannot be used: the message names the file, line, row and field."""


def data_file(name: str) -> Traversable:
    """The shipped file `name` in data/employers/ (installed as autocode/data/employers/)."""
    return files("autocode.data") / "employers" / name


def _resolve(source: Source) -> Traversable | os.PathLike[str]:
    return data_file(source) if isinstance(source, str) else source


def _lines(source: Source) -> Iterator[tuple[int, str]]:
    # Comments are whole lines only, so a "#" inside a field (a regular expression) stays data.
    path = _resolve(source)
    try:
        with open(path, encoding="utf-8") if isinstance(path, os.PathLike) else path.open(encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot be read ({exc})") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


@dataclass(frozen=True)
class Row:
    """One data row of a CSV file, with where it stands so that a problem in it can be pointed at."""

    file: str
    line: int  # line in the file, counting comments and the header
    number: int  # data row, counting from 1 after the header
    fields: Mapping[str, str]

    def __getitem__(self, field: str) -> str:
        """The field's text, spaces around it dropped."""
        return self.fields[field]

    def error(self, field: str, problem: str) -> DataFileError:
        """An error naming this row's file, line, row number and `field`."""
        return DataFileError(f"{self.file}: line {self.line} (row {self.number}), field {field!r}: {problem}")

    def choice(self, field: str, options: Sequence[str], default: str | None = None) -> str:
        """The field's value, which must be one of `options` (an empty field gives `default`, where there is one)."""
        value = self[field]
        if not value and default is not None:
            return default
        if value not in options:
            raise self.error(field, f"{value!r} is not one of: {', '.join(options)}")
        return value

    def yes_no(self, field: str, default: bool = False) -> bool:
        """The field read as yes or no (empty: `default`)."""
        return _YES_NO[self.choice(field, tuple(_YES_NO), "yes" if default else "no")]

    def country(self, field: str) -> str:
        """The field as one ISO 3166 alpha-2 code."""
        value = self[field]
        if not _ISO2.fullmatch(value):
            raise self.error(field, f"{value!r} is not an ISO 3166 alpha-2 country code (two capital letters)")
        return value

    def countries(self, field: str) -> tuple[str, ...]:
        """The field as ISO 3166 alpha-2 codes separated by spaces, in order, at least one."""
        codes = self[field].split()
        for code in codes:
            if not _ISO2.fullmatch(code):
                raise self.error(field, f"{code!r} is not an ISO 3166 alpha-2 country code (two capital letters); "
                                        "separate codes with spaces")
        if len(set(codes)) != len(codes):
            raise self.error(field, f"a country is listed twice in {self[field]!r}")
        if not codes:
            raise self.error(field, "no country given")
        return tuple(codes)

    def number_between(self, field: str, low: float, high: float) -> float:
        """The field as a number from `low` to `high`."""
        try:
            value = float(self[field])
        except ValueError:
            raise self.error(field, f"{self[field]!r} is not a number") from None
        if not low <= value <= high:
            raise self.error(field, f"{value} is not between {low} and {high}")
        return value

    def key(self, field: str, normal: Callable[[str], str], max_words: int | None = None) -> str:
        """The field, which must already be in the `normal` form (a match key), of at most `max_words` words."""
        return _check_entry(self[field], normal, max_words, lambda problem: self.error(field, problem))


def _check_entry(
    value: str, normal: Callable[[str], str] | None, max_words: int | None, fail: Callable[[str], DataFileError]
) -> str:
    if normal is not None and normal(value) != value:
        raise fail(f"{value!r} must be written {normal(value)!r} (lower case; for a match key also no accents, "
                   "and punctuation as single spaces)")
    if max_words == 1 and len(value.split()) > 1:
        raise fail(f"{value!r} is more than one word; write one a line")
    if max_words is not None and len(value.split()) > max_words:
        raise fail(f"{value!r} has more than {max_words} words, so it would never match")
    return value


def read_rows(source: Source, columns: Sequence[str], *, optional: Sequence[str] = ()) -> list[Row]:
    """The data rows of a CSV file whose header holds `columns` (others, such as a note, are kept but unchecked).

    Lines starting with "#" and blank lines are skipped; each row is one line. Every column not in
    `optional` must be filled in. Spaces around a field are dropped.
    """
    path = str(_resolve(source))
    lines = _lines(source)
    try:
        header_line, header_text = next(lines)
    except StopIteration:
        raise DataFileError(f"{path}: no header line (expected {','.join(columns)})") from None
    header = [name.strip() for name in _split(path, header_line, header_text)]
    missing = [name for name in columns if name not in header]
    if missing:
        raise DataFileError(f"{path}: line {header_line}: the header {','.join(header)!r} lacks "
                            f"{', '.join(missing)} (expected {','.join(columns)})")
    rows: list[Row] = []
    for line, text in lines:
        values = [value.strip() for value in _split(path, line, text)]
        number = len(rows) + 1
        if len(values) != len(header):
            raise DataFileError(f"{path}: line {line} (row {number}): {len(values)} fields where the header has "
                                f"{len(header)}; quote a field that holds a comma (\"a, b\")")
        row = Row(path, line, number, dict(zip(header, values, strict=True)))
        for name in columns:
            if name not in optional and not row[name]:
                raise row.error(name, "is empty")
        rows.append(row)
    return rows


def unique(rows: Sequence[Row], *fields: str) -> Sequence[Row]:
    """`rows` unchanged, after checking that no two share the values of `fields` (a later one would win silently)."""
    seen: dict[tuple[str, ...], int] = {}
    for row in rows:
        key = tuple(row[field] for field in fields)
        if key in seen:
            given = " and ".join(f"{field} {row[field]!r}" for field in fields)
            raise row.error(fields[-1], f"{given} already given on line {seen[key]}")
        seen[key] = row.line
    return rows


def _split(path: str, line: int, text: str) -> list[str]:
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise DataFileError(f"{path}: line {line}: not a CSV row ({exc}); a field may not span lines") from None


def read_words(
    source: Source, *, normal: Callable[[str], str] | None = None, single_word: bool = False
) -> tuple[str, ...]:
    """The entries of a one-entry-a-line list, in order, each in the `normal` form; "#" lines are comments."""
    path = str(_resolve(source))
    entries: list[str] = []
    for number, (line, text) in enumerate(_lines(source), start=1):
        entry = text.strip()

        def fail(problem: str, line: int = line, number: int = number) -> DataFileError:
            return DataFileError(f"{path}: line {line} (entry {number}): {problem}")

        entries.append(_check_entry(entry, normal, 1 if single_word else None, fail))
    return tuple(entries)


@dataclass(frozen=True)
class InstitutionWord:
    """A word learnt from reference names that points to one ISIC section (and, where clear, a division)."""

    section: str
    division: str  # empty where the section's records spread over several divisions
    records: int  # how many reference records use the word
    purity: float  # share of those records in `section`
    countries: tuple[tuple[str, float], ...]  # the most common countries of those records, with shares


def load_institution_words(source: Source = "institution_words.csv") -> dict[str, InstitutionWord]:
    """Word -> InstitutionWord, from data/employers/institution_words.csv (regenerated by the gazetteer build)."""
    out: dict[str, InstitutionWord] = {}
    rows = unique(read_rows(source, ("word", "section", "records", "purity", "countries"),
                            optional=("division", "top_countries")), "word")
    for row in rows:
        if not re.fullmatch(r"[A-U]", row["section"]):
            raise row.error("section", f"{row['section']!r} is not an ISIC Rev.4 section letter (A to U)")
        if row["division"] and not re.fullmatch(r"\d\d", row["division"]):
            raise row.error("division", f"{row['division']!r} is not a two-digit ISIC Rev.4 division")
        shares = []
        for part in row.fields.get("top_countries", "").split():
            code, _, share = part.partition(":")
            if not _ISO2.fullmatch(code):
                raise row.error("top_countries", f"{part!r} is not CODE:SHARE with an ISO 3166 alpha-2 code")
            shares.append((code, float(share)))
        out[row["word"]] = InstitutionWord(row["section"], row["division"], int(row.number_between("records", 1, 1e9)),
                                           row.number_between("purity", 0, 1), tuple(shares))
    return out
