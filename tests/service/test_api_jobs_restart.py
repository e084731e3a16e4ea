"""A job survives the server being killed (SIGKILL) mid-run: the next server resumes it, redoing no finished chunk."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

ROWS = 4000
VERBS = ["paid", "covered", "refunded", "split", "ignored", "approved", "delayed", "reviewed"]
THINGS = ["my course fee", "the exam costs", "study leave", "travel to lectures", "the textbooks", "a mentor"]


def survey(path: Path) -> list[str]:
    """A CSV of distinct answers, so every row is one text to decide."""
    ids = []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "answer"])
        for i in range(ROWS):
            text = f"{VERBS[i % 8]} {THINGS[(i // 8) % 6]}, case {i}"
            writer.writerow([f"r{i}", text])
            ids.append(f"r{i}")
    return ids


def texts_encoded(client: httpx.Client) -> float:
    """The server's count of texts sent to the encoder since it started."""
    return float(re.search(r"^autocode_texts_encoded ([0-9.e+]+)$", client.get("/metrics").text, re.MULTILINE).group(1))


def test_a_job_resumes_after_the_server_is_killed(launch_server: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"AUTOCODE_NO_AUTH": "true", "AUTOCODE_EMPLOYERS": "false", "AUTOCODE_JOB_CHUNK_ROWS": "100"}
    first = launch_server(home, env).start()
    assert "auth is OFF" in first.output()  # said loudly at start
    ids = survey(tmp_path / "survey.csv")
    with httpx.Client(base_url=first.url, timeout=60) as client:
        created = client.post("/v1/jobs", data={"column": "answer", "codebook": "employer-support"},
                              files={"file": ("survey.csv", (tmp_path / "survey.csv").read_bytes(), "text/csv")})
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        deadline = time.monotonic() + 300
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            # Progress counts a chunk once decided, a moment before its part is saved: at 400 rows
            # reported, the first 300 are certainly on disk.
            if job["rows_done"] >= 400:
                break
            time.sleep(0.05)
    assert job["state"] == "running" and 400 <= job["rows_done"] < ROWS, job
    first.kill()

    second = launch_server(home, env, port=first.port).start()
    # While the models loaded, the process was alive but not ready, and a model call was told to come back.
    assert second.while_loading == {"readyz": 503, "healthz": 200, "classify": 503}
    with httpx.Client(base_url=second.url, timeout=60) as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert job["state"] == "done", job
        assert job["restarts"] == 1 and job["rows_done"] == ROWS
        # Every text was decided once across both servers: no finished chunk was redone.
        assert job["summary"]["unique_texts"] == ROWS
        assert texts_encoded(client) < ROWS - 300 + 200  # the second server encoded only what was left (+ label texts)
        result = client.get(f"/v1/jobs/{job_id}/result")
    coded = list(csv.DictReader(io.StringIO(result.text)))
    assert [row["id"] for row in coded] == ids  # every row exactly once, in order
    assert all(row["answer_code"] for row in coded)
