"""POST /v1/documents over real HTTP against a real `autocode serve`: files in, coded rows out, limits as 413."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from autocode.service.stores.keys import KeyStore

pytestmark = pytest.mark.slow
KEYS: dict[str, str] = {}


def prepare_server(home: Path) -> dict[str, str]:
    """A read key, no employer resolver, small document limits."""
    with KeyStore(home / "keys.sqlite3") as keys:
        KEYS["read"] = keys.create("read", name="test read")[1]
    return {"AUTOCODE_EMPLOYERS": "false", "AUTOCODE_MAX_DOCUMENT_BYTES": "20000", "AUTOCODE_MAX_DOCUMENTS": "3"}


def post(server: Any, files: list[tuple[str, bytes]], **form: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/documents", files=[("files", (n, b)) for n, b in files], data=form,
                      headers={"Authorization": f"Bearer {KEYS['read']}"}, timeout=120)


def test_documents_are_coded_and_bad_ones_named(module_server: Any) -> None:
    good = ("fees.md", b"# Support\n\nMy employer paid all my course fees for the diploma.\n")
    latin = ("notes.txt", "caf\u00e9 au lait".encode("latin-1"))
    answer = post(module_server, [good, latin], codebook="employer-support")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    first, second = body["documents"]
    assert first["path"] == "fees.md" and "fees_full" in first["codes"].split("|") and first["section"] == "Support"
    assert second["path"] == "notes.txt" and "not UTF-8" in second["error"] and second["needs_review"]
    assert (body["coded"], body["failed"]) == (1, 1)


def test_document_limits_are_413_and_other_files_415(module_server: Any) -> None:
    big = post(module_server, [("big.txt", b"word " * 10_000)], codebook="employer-support")
    assert big.status_code == 413 and big.json()["error"]["limit"] == 20000
    many = post(module_server, [(f"{i}.txt", b"hello") for i in range(4)], codebook="employer-support")
    assert many.status_code == 413 and "at most 3" in many.json()["error"]["message"]
    odd = post(module_server, [("sheet.xlsx", b"PK")], codebook="employer-support")
    assert odd.status_code == 415 and "sheet.xlsx" in odd.json()["error"]["message"]
    both = post(module_server, [("a.txt", b"x")])
    assert both.status_code == 422
    assert httpx.post(f"{module_server.url}/v1/documents", files=[("files", ("a.txt", b"x"))],
                      data={"codebook": "employer-support"}).status_code == 401
