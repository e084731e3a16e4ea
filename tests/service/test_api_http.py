"""The HTTP API over real HTTP: a real `autocode serve` subprocess, the real MiniLM, real FAISS, real SQLite.

One server serves the whole module (model loading is the slow part). Its employer resolver runs over a
reference table of Singapore's records (about 430 of the gazetteer's 33,000), given with
AUTOCODE_EMPLOYER_REFERENCE, so start-up stays within seconds on two cores. Limits are set low so each
can be hit with a small request.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.service.stores.keys import KeyStore

pytestmark = pytest.mark.slow

KEYS: dict[str, str] = {}
SUPPORT = "employer-support"
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"


def prepare_server(home: Path) -> dict[str, str]:
    """Keys for each scope, a Singapore-only employer reference, and low limits."""
    g = load_gazetteer()
    g[g["country"] == "SG"].reset_index(drop=True).to_parquet(home / "reference.parquet")
    with KeyStore(home / "keys.sqlite3") as keys:
        for scope in ("read", "write", "admin"):
            KEYS[scope] = keys.create(scope, name=f"test {scope}")[1]
        KEYS["revoked"] = token = keys.create("admin", name="revoked later")[1]
        KEYS["revoked_id"] = token.split("_")[1]
    train_model(home / "models" / "support-v1")
    return {"AUTOCODE_EMPLOYER_REFERENCE": str(home / "reference.parquet"), "AUTOCODE_MAX_TEXTS": "40",
            "AUTOCODE_MAX_TEXT_CHARS": "2000", "AUTOCODE_MAX_BODY_BYTES": "65536", "AUTOCODE_MAX_JOB_BYTES": "100000",
            "AUTOCODE_BATCH_WINDOW_MS": "25", "AUTOCODE_JOB_CHUNK_ROWS": "50"}


def train_model(path: Path) -> None:
    """A model trained on the shipped sample's hand-coded support answers, where the server looks for models."""
    import pandas as pd

    from autocode.classifiers.cascade import Cascade
    from autocode.classifiers.codebook import load_codebook
    from autocode.classifiers.model import save_model
    from autocode.embeddings import get_encoder

    sample = pd.read_csv(SAMPLE).dropna(subset=["support", "support_gold"])  # a few rows are left blank on purpose
    labels = [tuple(code.split("|")) for code in sample["support_gold"]]
    save_model(Cascade(get_encoder("minilm"), load_codebook(SUPPORT)).fit(list(sample["support"]), labels), path)


def auth(scope: str) -> dict[str, str]:
    """The Authorization header for a key of `scope`."""
    return {"Authorization": f"Bearer {KEYS[scope]}"}


@pytest.fixture(scope="module")
def api(module_server: Any) -> httpx.Client:
    """A client for the module's server (no key: each call says which it uses)."""
    with httpx.Client(base_url=module_server.url, timeout=120) as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object of an error response; asserts the stable shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    assert "Traceback" not in response.text
    return body["error"]


def classify(api: httpx.Client, scope: str = "read", **body: Any) -> httpx.Response:
    """POST /v1/classify."""
    return api.post("/v1/classify", json=body, headers=auth(scope))


# ----------------------------------------------------------------------------------------- ops


def test_health_ready_docs_and_openapi(api: httpx.Client) -> None:
    assert api.get("/healthz").json()["status"] == "ok"
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert {"encoder:minilm", f"codebook:{SUPPORT}", "employers"} <= set(ready.json()["loaded"])
    assert ready.json()["auth"] is True
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/v1/classify", "/v1/employers/resolve", "/v1/search", "/v1/records", "/v1/records/{record_id}",
                 "/v1/codebooks", "/v1/codebooks/{codebook_id}", "/v1/feedback", "/v1/jobs", "/v1/jobs/{job_id}",
                 "/v1/jobs/{job_id}/result", "/metrics"):
        assert path in paths
    assert "swagger" in api.get("/docs").text.lower()


# ----------------------------------------------------------------------------------------- auth


def test_no_key_wrong_key_and_revoked_key_get_401(api: httpx.Client, module_server: Any) -> None:
    body = {"text": "they paid my fees", "codebook": SUPPORT}
    none = api.post("/v1/classify", json=body)
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    assert error_of(none)["code"] == "unauthorized"
    wrong = api.post("/v1/classify", json=body, headers={"Authorization": "Bearer ac_000000000000_notakey"})
    assert wrong.status_code == 401
    mangled = KEYS["read"][:-2] + ("AA" if not KEYS["read"].endswith("AA") else "BB")
    assert api.post("/v1/classify", json=body, headers={"Authorization": f"Bearer {mangled}"}).status_code == 401
    assert classify(api, "revoked", **body).status_code == 200
    with KeyStore(module_server.home / "keys.sqlite3") as keys:
        assert keys.revoke(KEYS["revoked_id"])
    assert classify(api, "revoked", **body).status_code == 401  # revocation takes effect on the next request


def test_scopes_read_write_admin(api: httpx.Client) -> None:
    record = {"name": "Scope Test Holdings", "country": "SG"}
    assert api.get("/v1/records", headers=auth("read")).status_code == 200
    denied = api.post("/v1/records", json=record, headers=auth("read"))
    assert denied.status_code == 403 and error_of(denied)["code"] == "forbidden"
    created = api.post("/v1/records", json=record, headers=auth("write"))
    assert created.status_code == 201
    assert api.delete(f"/v1/records/{created.json()['record_id']}", headers=auth("write")).status_code == 204
    book = {"id": "scope-book", "name": "Scope", "version": "1", "labels": [{"code": "a", "name": "Alpha"}]}
    assert api.post("/v1/codebooks", json=book, headers=auth("write")).status_code == 403
    assert api.post("/v1/codebooks", json=book, headers=auth("admin")).status_code == 201


# ----------------------------------------------------------------------------------------- limits


def test_limits_answer_413_naming_the_limit(api: httpx.Client) -> None:
    many = classify(api, texts=["paid my fees"] * 41, codebook=SUPPORT)
    assert many.status_code == 413
    assert error_of(many) | {} == {**error_of(many), "code": "too_many_texts", "limit": 40, "where": "texts"}
    long = classify(api, texts=["short", "x" * 2001], codebook=SUPPORT)
    assert long.status_code == 413
    assert (error_of(long)["code"], error_of(long)["limit"], error_of(long)["where"]) == ("text_too_long", 2000, "texts[1]")
    body = classify(api, texts=["y" * 1700] * 40, codebook=SUPPORT)  # 68 kB of texts > 64 KiB
    assert body.status_code == 413
    assert (error_of(body)["code"], error_of(body)["limit"]) == ("body_too_large", 65536)
    upload = api.post("/v1/jobs", headers=auth("write"), data={"column": "text", "codebook": SUPPORT},
                      files={"file": ("big.csv", b"text\n" + b"a fairly long answer about fees\n" * 5000, "text/csv")})
    assert upload.status_code == 413
    assert (error_of(upload)["code"], error_of(upload)["limit"]) == ("file_too_large", 100000)


def test_bad_requests_get_422_with_where(api: httpx.Client) -> None:
    both = classify(api, text="a", texts=["b"], codebook=SUPPORT)
    assert both.status_code == 422 and error_of(both)["code"] == "invalid_request"
    broken = api.post("/v1/classify", content=b"{not json", headers={**auth("read"), "content-type": "application/json"})
    assert broken.status_code == 422
    unknown_field = classify(api, text="a", codebook=SUPPORT, colour="blue")
    assert unknown_field.status_code == 422 and "colour" in error_of(unknown_field)["message"]
    bad_label = classify(api, text="they paid my fees", codebook=SUPPORT, labels=["no_such_code"])
    assert bad_label.status_code == 422 and error_of(bad_label)["where"] == "labels"
    missing = classify(api, text="a", codebook="no-such-book")
    assert missing.status_code == 404 and "no-such-book" in error_of(missing)["message"]
    assert api.get("/v1/nothing-here", headers=auth("read")).status_code == 404


# ----------------------------------------------------------------------------------------- classify


def test_classify_one_text_many_texts_and_a_label_subset(api: httpx.Client) -> None:
    one = classify(api, text="My employer paid the whole course fee", codebook=SUPPORT)
    assert one.status_code == 200
    prediction = one.json()["predictions"][0]
    assert prediction["codes"][0].startswith("fees")
    assert 0.0 <= prediction["confidence"] <= 1.0 and isinstance(prediction["needs_review"], bool)
    assert prediction["evidence"]
    texts = ["My employer paid the whole course fee", "I got paid days off to attend classes", "no support at all"]
    many = classify(api, texts=texts, codebook=SUPPORT).json()["predictions"]
    assert [p["text"] for p in many] == texts
    # The same text gets the same answer alone or in a batch (up to float noise from batched inference).
    assert many[0]["codes"] == prediction["codes"] and many[0]["confidence"] == pytest.approx(prediction["confidence"], abs=1e-4)
    assert "study_time" in many[1]["codes"]
    subset = classify(api, text="My employer paid the whole course fee", codebook=SUPPORT, labels=["study_time", "no_support"])
    chosen = subset.json()["predictions"][0]
    assert set(chosen["codes"]) <= {"study_time", "no_support"} and chosen["needs_review"] is True


def test_classify_with_a_trained_model_its_subset_and_its_feedback(api: httpx.Client) -> None:
    listed = api.get("/v1/codebooks", headers=auth("read")).json()["models"]
    assert {"id": "support-v1", "codebook": SUPPORT}.items() <= next(m for m in listed if m["id"] == "support-v1").items()
    text = "The firm covered every cent of my tuition"
    coded = classify(api, text=text, model="support-v1")
    assert coded.status_code == 200 and coded.json()["target"] == "model:support-v1"
    prediction = coded.json()["predictions"][0]
    assert prediction["codes"] == ["fees_full"] and prediction["method"] not in ("zero-shot", "feedback")
    subset = classify(api, text=text, model="support-v1", labels=["no_support", "study_time"]).json()["predictions"][0]
    assert subset["codes"][0] in ("no_support", "study_time") and subset["needs_review"] is True
    assert subset["method"].endswith("/subset") and subset["reason"]
    assert classify(api, text=text, model="no-such-model").status_code == 404
    stored = api.post("/v1/feedback", headers=auth("write"), json={"text": text, "codes": ["reimbursed"], "model": "support-v1"})
    assert stored.status_code == 201 and stored.json()["target"] == "model:support-v1"
    after = classify(api, text=text, model="support-v1").json()["predictions"][0]
    assert after["codes"] == ["reimbursed"] and after["method"] == "feedback"
    assert classify(api, text=text, codebook=SUPPORT).json()["predictions"][0]["method"] != "feedback"  # per target


def _histogram(metrics: str, name: str, target: str) -> tuple[float, float]:
    def value(suffix: str) -> float:
        match = re.search(rf'^{name}_{suffix}\{{target="{re.escape(target)}"\}} ([0-9.e+]+)$', metrics, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return value("sum"), value("count")


def test_concurrent_requests_are_micro_batched(api: httpx.Client, module_server: Any) -> None:
    before = _histogram(api.get("/metrics").text, "autocode_encode_batch_requests", f"codebook:{SUPPORT}")
    texts = [f"my employer gave me {n} days of paid study leave" for n in range(32)]

    # Every client connects first and then all ask at once: with the fast encoder a call ends in a few ms, so
    # requests trickling in one connection at a time would test the clients' stagger, not the gathering.
    start = threading.Barrier(len(texts))

    def one(text: str) -> list[str]:
        with httpx.Client(base_url=module_server.url, timeout=120) as client:
            assert client.get("/healthz").status_code == 200
            start.wait(timeout=60)
            response = client.post("/v1/classify", json={"text": text, "codebook": SUPPORT}, headers=auth("read"))
            assert response.status_code == 200
            return response.json()["predictions"][0]["codes"]

    with ThreadPoolExecutor(len(texts)) as pool:
        answers = list(pool.map(one, texts))
    assert all(answers)
    after = _histogram(api.get("/metrics").text, "autocode_encode_batch_requests", f"codebook:{SUPPORT}")
    requests, calls = after[0] - before[0], after[1] - before[1]
    assert requests == 32
    assert calls < 32 / 2, f"{requests} requests took {calls} model calls: concurrent requests were not gathered"


# ----------------------------------------------------------------------------------------- feedback


def test_feedback_changes_the_next_answer_for_that_text(api: httpx.Client) -> None:
    text = "The company let me use the meeting room for revision"
    first = classify(api, text=text, codebook=SUPPORT).json()["predictions"][0]
    wrong_code = first["codes"][0]
    right = "other_support" if wrong_code != "other_support" else "unpaid_leave"
    assert api.post("/v1/feedback", headers=auth("read"),
                    json={"text": text, "codes": [right], "codebook": SUPPORT}).status_code == 403
    bad = api.post("/v1/feedback", headers=auth("write"), json={"text": text, "codes": ["nope"], "codebook": SUPPORT})
    assert bad.status_code == 422 and error_of(bad)["where"] == "codes"
    stored = api.post("/v1/feedback", headers=auth("write"),
                      json={"text": text, "codes": [right], "codebook": SUPPORT, "prediction": first, "note": "checked"})
    assert stored.status_code == 201 and stored.json()["codes"] == [right]
    after = classify(api, text=text.upper() + "  ", codebook=SUPPORT).json()["predictions"][0]
    assert after["codes"] == [right]
    assert after["method"] == "feedback" and after["needs_review"] is False
    assert any(e["kind"] == "feedback" for e in after["evidence"])
    other = classify(api, text="I paid for everything myself", codebook=SUPPORT).json()["predictions"][0]
    assert other["method"] != "feedback"


# ----------------------------------------------------------------------------------------- employers and records


def test_resolve_an_employer_name(api: httpx.Client) -> None:
    response = api.post("/v1/employers/resolve", json={"texts": ["Singapore Airlines", "sia engineering"]}, headers=auth("read"))
    assert response.status_code == 200
    first = response.json()["results"][0]
    assert first["kind"] == "match" and first["country"] == "SG" and first["isic_division"] == "51"
    assert first["record_id"] is not None and 0.0 <= first["confidence"] <= 1.0


def _search(api: httpx.Client, text: str, **extra: Any) -> list[dict[str, Any]]:
    response = api.post("/v1/search", json={"text": text, "k": 5, **extra}, headers=auth("read"))
    assert response.status_code == 200, response.text
    return response.json()["hits"]


def test_record_crud_is_visible_to_the_next_search(api: httpx.Client) -> None:
    created = api.post("/v1/records", headers=auth("write"),
                       json={"name": "Zephyrine Quantum Robotics Pte Ltd", "aliases": ["ZQR"], "country": "SG", "isic_division": "28"})
    assert created.status_code == 201, created.text
    record = created.json()
    rid = record["record_id"]
    assert record["origin"] == "user" and record["isic_section"] == "C" and record["region"]
    hits = _search(api, "zephyrine quantum robotics")
    assert hits[0]["record_id"] == rid and hits[0]["isic_division"] == "28"
    assert api.get(f"/v1/records/{rid}", headers=auth("read")).json()["name"] == "Zephyrine Quantum Robotics Pte Ltd"
    listed = api.get("/v1/records", headers=auth("read")).json()
    assert rid in [r["record_id"] for r in listed["records"]]
    changed = api.put(f"/v1/records/{rid}", headers=auth("write"), json={"isic_division": "62"})
    assert changed.status_code == 200 and changed.json()["isic_section"] == "J"
    assert _search(api, "zephyrine quantum robotics")[0]["isic_division"] == "62"
    resolved = api.post("/v1/employers/resolve", json={"text": "ZQR"}, headers=auth("read")).json()["results"][0]
    assert resolved["record_id"] == rid
    assert api.delete(f"/v1/records/{rid}", headers=auth("write")).status_code == 204
    assert all(h["record_id"] != rid for h in _search(api, "zephyrine quantum robotics"))
    gone = api.get(f"/v1/records/{rid}", headers=auth("read"))
    assert gone.status_code == 404 and error_of(gone)["code"] == "not_found"
    assert api.delete(f"/v1/records/{rid}", headers=auth("write")).status_code == 404


def test_correcting_and_removing_a_reference_record(api: httpx.Client) -> None:
    hit = _search(api, "Singapore Airlines")[0]
    rid = hit["record_id"]
    assert api.get(f"/v1/records/{rid}", headers=auth("read")).json()["origin"] == "reference"
    fixed = api.put(f"/v1/records/{rid}", headers=auth("write"), json={"city": "Changi"})
    assert fixed.status_code == 200 and fixed.json()["origin"] == "correction" and fixed.json()["name"] == hit["name"]
    bad = api.put(f"/v1/records/{rid}", headers=auth("write"), json={"country": "XX"})
    assert bad.status_code == 422 and error_of(bad)["where"] == "country"
    assert api.delete(f"/v1/records/{rid}", headers=auth("write")).status_code == 204
    assert all(h["record_id"] != rid for h in _search(api, "Singapore Airlines"))
    assert api.put(f"/v1/records/{rid}", headers=auth("write"), json={"name": hit["name"]}).status_code == 200
    assert _search(api, "Singapore Airlines")[0]["record_id"] == rid  # a correction brings it back
    assert api.put("/v1/records/12345", headers=auth("write"), json={"name": "x"}).status_code == 404


def test_search_filters(api: httpx.Client) -> None:
    hits = _search(api, "bank", sector="K")
    assert hits and all(h["isic_section"] == "K" for h in hits)
    assert _search(api, "bank", country="MY") == []


# ----------------------------------------------------------------------------------------- codebooks


def test_codebooks_list_get_and_upload(api: httpx.Client) -> None:
    listed = api.get("/v1/codebooks", headers=auth("read")).json()
    ids = {c["id"] for c in listed["codebooks"]}
    assert {"isic4", "gics", "m49", SUPPORT} <= ids
    isic = api.get("/v1/codebooks/isic4", headers=auth("read")).json()
    assert len(isic["labels"]) > 100 and any(label["parent"] for label in isic["labels"])
    assert api.get("/v1/codebooks/nothing", headers=auth("read")).status_code == 404
    book = {"id": "commute", "name": "How people commute", "version": "1", "labels": [
        {"code": "bus", "name": "Bus", "examples": ["I take the bus", "the number 7 bus"]},
        {"code": "bike", "name": "Bicycle", "examples": ["I cycle to work", "by bike"]},
        {"code": "car", "name": "Car", "examples": ["I drive", "my car"]}]}
    created = api.post("/v1/codebooks", json=book, headers=auth("admin"))
    assert created.status_code == 201 and created.json()["labels"] == 3
    assert api.post("/v1/codebooks", json=book, headers=auth("admin")).status_code == 409
    assert api.post("/v1/codebooks?replace=true", json=book, headers=auth("admin")).status_code == 201
    assert api.post("/v1/codebooks", json={**book, "id": "isic4"}, headers=auth("admin")).status_code == 409
    broken = {**book, "id": "broken", "labels": [{"code": "a", "name": "A", "parent": "missing"}, {"code": "a", "name": "again"}]}
    invalid = api.post("/v1/codebooks", json=broken, headers=auth("admin"))
    assert invalid.status_code == 422 and error_of(invalid)["code"] == "invalid_codebook"
    assert "missing" in invalid.json()["error"]["message"]
    coded = classify(api, text="I usually ride my bicycle to the office", codebook="commute").json()["predictions"][0]
    assert coded["codes"] == ["bike"]


# ----------------------------------------------------------------------------------------- jobs


def _wait_done(api: httpx.Client, job_id: str, within: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job_id}", headers=auth("read")).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not done in {within}s: {job}")


def test_a_job_end_to_end(api: httpx.Client) -> None:
    rows = [{"id": str(i), "answer": text} for i, text in enumerate(
        ["they paid my fees", "time off for exams", "", "nothing", "they paid my fees", "a mentor at work"] * 20)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["id", "answer"])
    writer.writeheader()
    writer.writerows(rows)
    files = {"file": ("survey.csv", buffer.getvalue().encode(), "text/csv")}
    bad_column = api.post("/v1/jobs", headers=auth("write"), data={"column": "nope", "codebook": SUPPORT}, files=files)
    assert bad_column.status_code == 422 and "nope" in error_of(bad_column)["message"]
    bad_type = api.post("/v1/jobs", headers=auth("write"), data={"column": "answer", "codebook": SUPPORT},
                        files={"file": ("survey.doc", b"x", "application/msword")})
    assert bad_type.status_code == 422
    created = api.post("/v1/jobs", headers=auth("write"), data={"column": "answer", "codebook": SUPPORT}, files=files)
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    early = api.get(f"/v1/jobs/{job_id}/result", headers=auth("read"))
    assert early.status_code in (200, 409)
    job = _wait_done(api, job_id)
    assert job["state"] == "done" and job["rows_done"] == 120 and job["summary"]["invalid_rows"] == 20
    result = api.get(f"/v1/jobs/{job_id}/result", headers=auth("read"))
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
    coded = list(csv.DictReader(io.StringIO(result.text)))
    assert [r["id"] for r in coded] == [r["id"] for r in rows]
    assert {"answer_code", "answer_confidence", "answer_needs_review"} <= set(coded[0])
    assert coded[0]["answer_code"] == coded[4]["answer_code"]
    assert job_id in [j["job_id"] for j in api.get("/v1/jobs", headers=auth("read")).json()["jobs"]]
    assert api.get("/v1/jobs/0123456789abcdef", headers=auth("read")).status_code == 404


def test_an_employer_job(api: httpx.Client) -> None:
    data = b"employer\nSingapore Airlines\nDBS\nmy uncle's shop\n"
    created = api.post("/v1/jobs", headers=auth("write"), data={"column": "employer", "employers": "true"},
                       files={"file": ("employers.csv", data, "text/csv")})
    assert created.status_code == 202, created.text
    job = _wait_done(api, created.json()["job_id"])
    assert job["state"] == "done" and job["rows_done"] == 3
    coded = list(csv.DictReader(io.StringIO(api.get(job["result_url"], headers=auth("read")).text)))
    assert coded[0]["employer_country"] == "SG"


# ----------------------------------------------------------------------------------------- metrics


def test_metrics_in_prometheus_format(api: httpx.Client) -> None:
    text = api.get("/metrics").text
    for name in ("autocode_http_requests_total", "autocode_http_request_duration_seconds_bucket",
                 "autocode_encode_batch_texts_bucket", "autocode_batch_queue_texts", "autocode_jobs_queued", "autocode_ready"):
        assert re.search(rf"^{name}[{{ ]", text, re.MULTILINE), name
    assert 'route="/v1/classify"' in text


# ----------------------------------------------------------------------------------------- the README's examples

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_examples_run_as_written(module_server: Any) -> None:
    """The README's curl block, run by bash with `set -e` and `curl -f`: every example must succeed."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- api-examples")
    opening = text.index("```bash\n", start) + len("```bash\n")
    block = text[opening: text.index("\n```", opening)]
    assert block.count("curl ") >= 18
    for endpoint in ("/v1/classify", "/v1/feedback", "/v1/employers/resolve", "/v1/search", "/v1/records", "/v1/codebooks",
                     "/v1/jobs", "/metrics", "/readyz"):
        assert endpoint in block, endpoint
    env = {**os.environ, "AC": module_server.url, "KEY": KEYS["admin"], "TMPDIR": str(module_server.home)}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=README.parent, env=env, capture_output=True, check=False,
                          text=True, timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
    assert (module_server.home / "survey_sample.coded.csv").stat().st_size > 0


# ----------------------------------------------------------------------------------------- the API against its own OpenAPI

def test_every_operation_conforms_to_the_openapi_and_never_answers_5xx(module_server: Any) -> None:
    """Generated requests (valid and not) with an admin key: no 5xx, and every response matches the documented schema.

    schemathesis reads the server's own /openapi.json; each operation gets a bounded number of examples
    (derandomized, so a CI failure reproduces), and the failures of all operations are reported together.
    """
    loaded = schemathesis.openapi.from_url(f"{module_server.url}/openapi.json")
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    failures: list[str] = []
    operations = 0
    statuses: list[int] = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call(base_url=module_server.url, headers=auth("admin"), timeout=60)
            statuses.append(response.status_code)
            case.validate_response(response, checks=checks)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 (collected: one report for every operation)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:3000])
    assert operations >= 15 and len(statuses) >= 5 * operations
    assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
    print(f"schemathesis: {operations} operations, {len(statuses)} requests, statuses {sorted(set(statuses))}")
    assert not failures, "\n\n".join(failures)
