"""What a server can code into: built-in and uploaded codebooks, and trained models, by id.

Uploaded codebooks live in `AUTOCODE_HOME/codebooks/<id>.json`; trained models are the folders under
`AUTOCODE_HOME/models/<id>/` (`autocode train --out "$AUTOCODE_HOME/models/<id>"`). Ids are checked
against one pattern before any path is built from them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from autocode.classifiers.codebook import (
    Codebook,
    CodebookError,
    builtin_codebook_ids,
    load_codebook,
    parse_codebook,
)
from autocode.embeddings.durable import write_text_atomic
from autocode.errors import AutocodeError, ConflictError, InvalidError, NotFoundError
from autocode.service.paths import autocode_home

__all__ = ["ID_PATTERN", "CatalogueConflictError", "CatalogueError", "CatalogueIdError", "CatalogueNotFoundError",
           "codebooks_dir", "find_codebook", "list_codebooks", "list_models", "model_dir", "save_codebook"]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ID = re.compile(ID_PATTERN)


class CatalogueError(AutocodeError):
    """Any catalogue error; each raise site raises one of the three kinds below."""


class CatalogueNotFoundError(CatalogueError, NotFoundError):
    """An id that names no codebook or model."""


class CatalogueConflictError(CatalogueError, ConflictError):
    """An upload that would replace what it may not (a built-in, or an existing id without replace)."""


class CatalogueIdError(CatalogueError, InvalidError):
    """An id that breaks the id pattern, refused before any path is built from it."""

    code = "invalid_request"


def _check_id(kind: str, value: str) -> str:
    if not _ID.match(value) or ".." in value:
        raise CatalogueIdError(f"{kind} id {value!r} is not valid: letters, digits, '.', '_' or '-', at most 64 characters")
    return value


def codebooks_dir() -> Path:
    """Where uploaded codebooks are kept."""
    return autocode_home() / "codebooks"


def models_dir() -> Path:
    """Where trained models are looked up by id."""
    return autocode_home() / "models"


def find_codebook(codebook_id: str) -> Codebook:
    """A built-in or uploaded codebook; CatalogueNotFoundError when there is none by that id."""
    _check_id("codebook", codebook_id)
    if codebook_id in builtin_codebook_ids():
        return load_codebook(codebook_id)
    path = codebooks_dir() / f"{codebook_id}.json"
    if not path.is_file():
        raise CatalogueNotFoundError(f"no codebook {codebook_id!r} (built-in: {', '.join(builtin_codebook_ids())}; or upload one)")
    return load_codebook(path)


def list_codebooks() -> list[dict[str, Any]]:
    """Every codebook's summary: id, name, version, labels, multi_label, hierarchical, built_in."""
    out = []
    for codebook_id in builtin_codebook_ids():
        out.append(_summary(load_codebook(codebook_id), built_in=True))
    for path in sorted(codebooks_dir().glob("*.json")):
        try:
            out.append(_summary(load_codebook(path), built_in=False))
        except CodebookError:
            continue  # written by us after validation; a hand-edited broken file is skipped, not fatal
    return out


def _summary(book: Codebook, *, built_in: bool) -> dict[str, Any]:
    return {"id": book.id, "name": book.name, "version": book.version, "labels": len(book),
            "multi_label": book.multi_label, "hierarchical": book.is_hierarchical(), "built_in": built_in}


def save_codebook(data: dict[str, Any], *, replace: bool = False) -> Codebook:
    """Validate and store an uploaded codebook; a built-in id, or an existing one without `replace`, is refused."""
    book = parse_codebook(data, "uploaded codebook")
    _check_id("codebook", book.id)
    if book.id in builtin_codebook_ids():
        raise CatalogueConflictError(f"codebook id {book.id!r} is built in and cannot be replaced; choose another id")
    path = codebooks_dir() / f"{book.id}.json"
    if path.exists() and not replace:
        raise CatalogueConflictError(f"codebook {book.id!r} exists; PUT-style replacement needs replace=true")
    write_text_atomic(path, json.dumps(book.model_dump(mode="json"), ensure_ascii=False, indent=1))
    return book


def model_dir(model_id: str) -> Path:
    """The folder of trained model `model_id`; CatalogueNotFoundError when it is not there."""
    _check_id("model", model_id)
    path = models_dir() / model_id
    if not (path / "model.json").is_file():
        raise CatalogueNotFoundError(f"no trained model {model_id!r} in {models_dir()} (train one with autocode train --out {path})")
    return path


def list_models() -> list[dict[str, Any]]:
    """Trained models found in the models folder: id, codebook, encoder, created_at."""
    from autocode.classifiers.model import ModelFormatError, read_manifest

    out = []
    root = models_dir()
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not _ID.match(path.name):
            continue
        try:
            manifest = read_manifest(path)
        except ModelFormatError:
            continue
        out.append({"id": path.name, "codebook": manifest["codebook"].get("id"), "encoder": manifest["encoder"].get("key"),
                    "created_at": manifest.get("created_at")})
    return out
