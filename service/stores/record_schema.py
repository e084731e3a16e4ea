"""What a user's employer record may hold: a pydantic model checked against the m49 and isic4 codebooks.

Derived fields are filled, not trusted: the ISIC section from the division, region and sub-region from
the country, so a record cannot say "division 64, section C" or "SG, Europe".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from autocode.errors import InvalidError

__all__ = ["RecordError", "RecordIn", "isic_section_of", "validate_record"]


class RecordError(InvalidError):
    """A record that cannot be stored; the message starts with the field at fault."""

    code = "invalid_record"

    @property
    def where(self) -> str | None:
        """The field at fault: the message up to its first colon."""
        text = str(self)
        return text.split(":", 1)[0] if ":" in text else None


@functools.cache
def _countries() -> dict[str, tuple[str, str, str]]:
    """ISO2 code, ISO3 alias or name (upper-cased) -> (ISO2, region name, sub-region name)."""
    from autocode.classifiers.codebook import load_codebook

    book = load_codebook("m49")
    out: dict[str, tuple[str, str, str]] = {}
    for label in book.labels:
        if not (len(label.code) == 2 and label.code.isalpha()):
            continue  # M49 areas have numeric codes; countries have their ISO2
        path = book.path(label.code)
        entry = (label.code, book.get(path[0]).name, book.get(path[-2]).name if len(path) > 2 else "")
        for key in (label.code, label.name, *label.aliases):
            out.setdefault(key.upper(), entry)
    return out


@functools.cache
def _isic() -> dict[str, str]:
    """ISIC Rev.4 section letter -> itself and two-digit division -> its section letter."""
    from autocode.classifiers.codebook import load_codebook

    book = load_codebook("isic4")
    return {label.code: label.parent or label.code for label in book.labels if len(label.code) <= 2}


def isic_section_of(division: str) -> str | None:
    """The section letter a known ISIC division belongs to, else None."""
    return _isic().get(division) if division.isdigit() else None


def _text(value: Any) -> Any:
    return "" if value is None else value.strip() if isinstance(value, str) else str(value)


def _texts(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split("|")
    if isinstance(value, (list, tuple)):
        return tuple(dict.fromkeys(t for t in (_text(v) for v in value) if t))
    return value


class RecordIn(BaseModel):
    """One employer record as a user gives it; the gazetteer's fields, all optional but `name`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    aliases: tuple[str, ...] = ()
    ambiguous_aliases: tuple[str, ...] = ()
    legal_forms: tuple[str, ...] = ()
    source: str = "user"
    isic_section: str = ""
    isic_division: str = ""
    isic_basis: str = ""
    gics_sector: str = ""
    gics_industry_group: str = ""
    gics_industry: str = ""
    gics_industry_code: str = ""
    country: str = ""
    region: str = ""
    subregion: str = ""
    city: str = ""
    domain: str = ""
    summary: str = ""

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, value: Any, info: Any) -> Any:
        return _texts(value) if info.field_name in ("aliases", "ambiguous_aliases", "legal_forms") else _text(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value and value.upper() not in _countries():
            raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code in the m49 codebook (e.g. SG, MY, US)")
        return _countries()[value.upper()][0] if value else ""

    @field_validator("isic_division")
    @classmethod
    def _division(cls, value: str) -> str:
        value = value.zfill(2) if value.isdigit() and len(value) == 1 else value
        if value and isic_section_of(value) is None:
            raise ValueError(f"{value!r} is not an ISIC Rev.4 division in the isic4 codebook (two digits, e.g. 64)")
        return value

    @field_validator("isic_section")
    @classmethod
    def _section(cls, value: str) -> str:
        value = value.upper()
        if value and not (value.isalpha() and _isic().get(value) == value):
            raise ValueError(f"{value!r} is not an ISIC Rev.4 section in the isic4 codebook (one letter, A to U)")
        return value

    @model_validator(mode="after")
    def _derive(self) -> RecordIn:
        updates: dict[str, Any] = {}
        if self.isic_division:
            parent = isic_section_of(self.isic_division)
            if self.isic_section and self.isic_section != parent:
                raise ValueError(
                    f"isic_section: {self.isic_section!r} does not contain division {self.isic_division!r} "
                    f"(its section is {parent!r})"
                )
            updates["isic_section"] = parent
        if (self.isic_section or self.isic_division) and not self.isic_basis:
            updates["isic_basis"] = "user"
        if self.country:
            _, updates["region"], updates["subregion"] = _countries()[self.country]
        return self.model_copy(update=updates) if updates else self


def validate_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A clean record dict (no record_id) or RecordError naming the field, e.g. "country: 'XX' is not ..."."""
    try:
        return RecordIn.model_validate(dict(record)).model_dump()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "required"
            problems.append(f"{where}: {message}" if where else message)
        raise RecordError("; ".join(problems)) from None
