"""/v1/review over real HTTP against a real `autocode serve`: upload a coded file, decide, undo, export; keys apply."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from autocode.service.stores.keys import KeyStore

pytestmark = pytest.mark.slow
KEYS: dict[str, str] = {}
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"


def prepare_server(home: Path) -> dict[str, str]:
    """A read and a write key; no employer resolver (this module reviews a codebook's column)."""
    with KeyStore(home / "keys.sqlite3") as keys:
        for scope in ("read", "write"):
            KEYS[scope] = keys.create(scope, name=f"test {scope}")[1]
    return {"AUTOCODE_EMPLOYERS": "false"}


def auth(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[scope]}"}


def coded_sample() -> bytes:
    """The sample's support column as `autocode code` writes it, every row sent to review."""
    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(12)
    frame = frame.assign(support_code="other_support", support_label="Other support", support_confidence="0.3",
                         support_method="zero-shot", support_needs_review="True", support_evidence="[]")
    return frame.to_csv(index=False).encode()


def test_a_queue_driven_through_the_api(module_server: Any) -> None:
    url = module_server.url
    data = coded_sample()
    files = {"file": ("coded.csv", data, "text/csv")}
    form = {"column": "support", "codebook": "employer-support", "filename": "coded.csv"}
    assert httpx.post(f"{url}/v1/review/sessions", files=files, data=form, headers=auth("read")).status_code == 403
    opened = httpx.post(f"{url}/v1/review/sessions", files=files, data=form, headers=auth("write"), timeout=120)
    assert opened.status_code == 201, opened.text
    session = opened.json()
    sid = session["session_id"]
    assert session["kind"] == "codes" and session["page_url"] == f"/review?session={sid}"
    assert session["counts"]["rows"] == 12

    base = f"{url}/v1/review/sessions/{sid}"
    nxt = httpx.get(f"{base}/next", headers=auth("read"), timeout=120).json()
    item = nxt["item"]
    assert item["alternatives"] and item["rows"] >= 1
    decide = {"action": "choose", "codes": [item["alternatives"][-1]["codes"][0]]}
    denied = httpx.post(f"{base}/items/{item['item_id']}/decision", json=decide, headers=auth("read"))
    assert denied.status_code == 403
    done = httpx.post(f"{base}/items/{item['item_id']}/decision", json=decide, headers=auth("write"), timeout=120)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["decision"]["reviewer"].startswith("key:") and body["counts"]["decided"] == 1
    assert body["next"] is not None and body["next"]["item_id"] != item["item_id"]

    bad = httpx.post(f"{base}/items/{body['next']['item_id']}/decision", json={"action": "choose", "codes": ["nope"]},
                     headers=auth("write"), timeout=60)
    assert bad.status_code == 422 and "nope" in bad.json()["error"]["message"]
    second = body["next"]["item_id"]
    assert httpx.post(f"{base}/items/{second}/decision", json={"action": "uncodable"}, headers=auth("write"),
                      timeout=60).status_code == 200
    undone = httpx.post(f"{base}/undo", headers=auth("write"), timeout=60).json()
    assert undone["undone"]["action"] == "uncodable" and undone["item"]["status"] == "pending"

    hits = httpx.get(f"{base}/search", params={"q": "study"}, headers=auth("read"), timeout=60).json()["options"]
    assert hits and hits[0]["codes"] == ["study_time"]

    exported = httpx.get(f"{base}/export", headers=auth("read"), timeout=60)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(exported.content), dtype=str, keep_default_na=False)
    original = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert frame["respondent_id"].tolist() == original["respondent_id"].tolist()
    human = frame[frame["support_method"] == "human"]
    assert len(human) == item["rows"] and set(human["support_code"]) == set(decide["codes"])
    assert (frame.loc[frame["support_method"] != "human", "support_code"].isin(["other_support", "fees_full", "fees_part",
                                                                              "study_time", "reimbursed", "required",
                                                                              "no_support"])).all()

    again = httpx.post(f"{url}/v1/review/sessions", files=files, data=form, headers=auth("write"), timeout=120).json()
    assert again["session_id"] == sid and again["counts"]["decided"] == 1  # the same file resumes its session
    listed = httpx.get(f"{url}/v1/review/sessions", headers=auth("read")).json()["sessions"]
    assert [s["session_id"] for s in listed] == [sid]


def test_the_page_and_its_script_are_served_by_autocode(module_server: Any) -> None:
    page = httpx.get(f"{module_server.url}/review")
    assert page.status_code == 200 and 'data-auth="on"' in page.text
    assert "://" not in page.text  # nothing loaded from elsewhere: no CDN, no fonts
    script = httpx.get(f"{module_server.url}/review/static/review.js")
    assert script.status_code == 200 and "/v1/review/sessions" in script.text
    schema = httpx.get(f"{module_server.url}/openapi.json").json()
    assert {"/v1/review/sessions/{session_id}/next", "/v1/review/sessions/{session_id}/undo",
            "/v1/review/sessions/{session_id}/export"} <= set(schema["paths"])
    assert httpx.get(f"{module_server.url}/v1/review/sessions/0123456789abcdef", headers=auth("read")).status_code == 404
