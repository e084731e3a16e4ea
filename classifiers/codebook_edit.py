"""Editing a (draft) codebook the way a reviewer does: rename a code, add one (to split another), merge two.

Every edit returns a new, validated Codebook (codebooks are immutable) and bumps its version, so a model or
queue built on the old one is never mistaken for the new one.
"""

from __future__ import annotations

from typing import Any

from autocode.classifiers.codebook import Codebook, CodebookError, parse_codebook

__all__ = ["add_code", "merge_codes", "rename_code"]


def _rebuilt(book: Codebook, labels: list[dict[str, Any]]) -> Codebook:
    data = book.model_dump()
    data["labels"] = labels
    data["version"] = _next_version(book.version)
    return parse_codebook(data, f"codebook {book.id!r}")


def _next_version(version: str) -> str:
    head, _, tail = version.rpartition(".")
    return f"{head}.{int(tail) + 1}" if tail.isdigit() and head else str(int(version) + 1) if version.isdigit() else f"{version}.1"


def _require(book: Codebook, code: str) -> None:
    if code not in book:
        raise CodebookError(f"code {code!r} is not in codebook {book.id!r}")


def rename_code(book: Codebook, code: str, name: str, description: str | None = None) -> Codebook:
    """The codebook with `code` given a new name (and description); the code itself, used in decisions, stays."""
    _require(book, code)
    if not name.strip():
        raise CodebookError(f"code {code!r}: a name is required")
    labels = [{**label.model_dump(), "name": name.strip(), **({"description": description} if description is not None else {})}
              if label.code == code else label.model_dump() for label in book.labels]
    return _rebuilt(book, labels)


def add_code(book: Codebook, code: str, name: str, description: str = "", examples: list[str] | None = None,
             parent: str | None = None) -> Codebook:
    """The codebook with a new code (a split: add the new code, then move answers to it)."""
    if code in book:
        raise CodebookError(f"code {code!r} is already in codebook {book.id!r}")
    if parent is not None:
        _require(book, parent)
    new = {"code": code, "name": name, "description": description, "aliases": [], "examples": list(examples or []),
           "parent": parent}
    return _rebuilt(book, [label.model_dump() for label in book.labels] + [new])


def merge_codes(book: Codebook, code: str, into: str) -> Codebook:
    """The codebook without `code`: its aliases and examples move to `into`, its children hang under `into`."""
    _require(book, code)
    _require(book, into)
    if code == into:
        raise CodebookError(f"code {code!r} cannot be merged into itself")
    if into in book.path(code) or code in book.path(into):
        raise CodebookError(f"codes {code!r} and {into!r} are parent and child: move the child instead of merging")
    gone = book.get(code)
    labels = []
    for label in book.labels:
        if label.code == code:
            continue
        data = label.model_dump()
        if label.code == into:
            data["aliases"] = list(dict.fromkeys([*label.aliases, *gone.aliases]))
            data["examples"] = list(dict.fromkeys([*label.examples, *gone.examples]))
        if label.parent == code:
            data["parent"] = into
        labels.append(data)
    return _rebuilt(book, labels)
