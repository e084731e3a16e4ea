"""One builder: `autocode code` and a /v1/jobs job code the same file the same way, stored feedback included.

A real `autocode serve` subprocess (real MiniLM, employer resolver off) and the real command line in this
process share one AUTOCODE_HOME: a correction sent to the server over HTTP must be applied by both.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.embeddings import Encoder
from autocode.service.builder import FeedbackFeed, Target, build_classifier, model_target, source_for
from autocode.service.cli import app
from autocode.service.stores.feedback import FeedbackStore
from autocode.service.stores.keys import KeyStore

pytestmark = pytest.mark.slow

SUPPORT = "employer-support"
MODEL = "support-v1"
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"
CORRECTED = "The company let me use the meeting room for revision"
ANSWERS = [CORRECTED, "Fees were fully paid by my employer", "No support from employer", "I got paid study leave on exam days",
           "they paid half my course fee but not my study time", CORRECTED.upper(), "I paid for everything myself"]
COLUMNS = ["support_code", "support_label", "support_method", "support_needs_review"]
KEY: dict[str, str] = {}


def prepare_server(home: Path) -> dict[str, str]:
    """A write key, and a model trained on the shipped sample where the server looks for models."""
    from autocode.classifiers.cascade import Cascade
    from autocode.classifiers.codebook import load_codebook
    from autocode.classifiers.model import save_model
    from autocode.embeddings import get_encoder

    with KeyStore(home / "keys.sqlite3") as keys:
        KEY["write"] = keys.create("write", name="test write")[1]
    sample = pd.read_csv(SAMPLE).dropna(subset=["support", "support_gold"])
    labels = [tuple(code.split("|")) for code in sample["support_gold"]]
    save_model(Cascade(get_encoder("minilm"), load_codebook(SUPPORT)).fit(list(sample["support"]), labels), home / "models" / MODEL)
    return {"AUTOCODE_EMPLOYERS": "false", "AUTOCODE_JOB_CHUNK_ROWS": "3"}


@pytest.fixture(scope="module")
def api(module_server: Any) -> httpx.Client:
    """A client for the module's server, with the write key."""
    with httpx.Client(base_url=module_server.url, timeout=120, headers={"Authorization": f"Bearer {KEY['write']}"}) as client:
        yield client


def _job(api: httpx.Client, data: Path, **target: str) -> pd.DataFrame:
    with open(data, "rb") as fh:
        created = api.post("/v1/jobs", files={"file": (data.name, fh, "text/csv")}, data={"column": "support", **target})
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    deadline = time.monotonic() + 300
    while (job := api.get(f"/v1/jobs/{job_id}").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["state"] == "done", job
    result = data.with_name(f"{data.stem}.job.csv")
    result.write_bytes(api.get(f"/v1/jobs/{job_id}/result").content)
    return pd.read_csv(result, dtype=str, keep_default_na=False)


def _cli(data: Path, *args: str) -> pd.DataFrame:
    out = data.with_name(f"{data.stem}.cli.csv")
    result = CliRunner().invoke(app, ["code", str(data), "-c", "support", *args, "-o", str(out), "--show", "0"])
    assert result.exit_code == 0, result.output
    assert "feedback: 1 corrected text applied" in result.output
    return pd.read_csv(out, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("kind", ["codebook", "model"])
def test_a_correction_sent_to_the_api_is_applied_by_autocode_code_and_by_a_job_alike(
    kind: str, api: httpx.Client, module_server: Any, minilm: Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOCODE_HOME", str(module_server.home))
    target = {"codebook": SUPPORT} if kind == "codebook" else {"model": MODEL}
    first = api.post("/v1/classify", json={"text": CORRECTED, **target}).json()["predictions"][0]
    right = "unpaid_leave" if "unpaid_leave" not in first["codes"] else "other_support"
    stored = api.post("/v1/feedback", json={"text": CORRECTED, "codes": [right], **target})
    assert stored.status_code == 201, stored.text
    data = tmp_path / "answers.csv"
    pd.DataFrame({"id": [f"R{i}" for i in range(len(ANSWERS))], "support": ANSWERS}).to_csv(data, index=False)

    by_cli = _cli(data, "--codebook", SUPPORT) if kind == "codebook" else _cli(data, "--model", str(module_server.home / "models" / MODEL))
    by_job = _job(api, data, **target)

    assert by_cli[["id", "support", *COLUMNS]].to_dict("records") == by_job[["id", "support", *COLUMNS]].to_dict("records")
    for coded in (by_cli, by_job):
        corrected = coded[coded["support"].str.lower() == CORRECTED.lower()]
        assert len(corrected) == 2 and set(corrected["support_method"]) == {"feedback"}
        assert set(corrected["support_code"]) == {right} and set(corrected["support_needs_review"]) == {"False"}
        assert (coded[coded["support"].str.lower() != CORRECTED.lower()]["support_method"] != "feedback").all()


def test_a_model_folder_is_keyed_as_the_server_keys_it_and_a_copy_by_its_digest(
    module_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOCODE_HOME", str(module_server.home))
    inside = module_server.home / "models" / MODEL
    assert model_target(inside).key == f"model:{MODEL}" == source_for(model=inside).target.key
    copy = tmp_path / MODEL
    shutil.copytree(inside, copy)
    key = model_target(copy).key
    assert key.startswith("model:sha256:") and key == model_target(shutil.copytree(copy, tmp_path / "moved")).key
    assert source_for(codebook=SUPPORT).target.key == f"codebook:{SUPPORT}"


def test_feedback_catch_up_reads_only_new_rows_and_skips_a_stale_one(minilm: Encoder, tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    key = f"codebook:{SUPPORT}"
    store.add(key, "my boss let me leave early for class", ["study_time"])
    stale = store.add(key, "a code the codebook no longer has", ["dropped_code"])
    store.add("codebook:isic4", "bank", ["64"])  # another target's: never applied here
    built = build_classifier(Target("codebook", SUPPORT), encoder=minilm, feedback_store=store)
    assert built.feedback_id == stale["feedback_id"] and len(built.memory) == 1
    assert built.identity.endswith(f"+feedback:{key}@{stale['feedback_id']}") and built.adjudicator is None
    feed = FeedbackFeed(store)
    assert feed.catch_up(built.memory, key) == stale["feedback_id"] and len(built.memory) == 1  # re-applied, not doubled
    newer = store.add(key, "they gave me a study room", ["other_support"])
    assert feed.catch_up(built.memory, key) == newer["feedback_id"] and len(built.memory) == 2
    assert feed.catch_up(built.memory, key) == newer["feedback_id"]
    assert built.classifier.predict(["They gave me a study room"])[0].method == "feedback"
