"""The LLM adjudicator against a real llama.cpp server (llama-cpp-python) running the packaged Gemma-3 270M.

The model is tiny and not instruction-tuned, so these tests check behaviour, not accuracy: answers are
schema-constrained and parse, every decided code comes from the item's shortlist, a rerun is served from
the cache with no calls, and a server that dies mid-batch leaves the batch complete with those items in review.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.classifiers.adjudicator import NONE, answer_schema, build_messages
from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.embeddings import Encoder
from autocode.service.batch.runner import classifier_decider, run_batch
from autocode.service.cli import app
from autocode.service.llm.cache import LLMCache
from autocode.service.llm.client import OpenAIChat
from autocode.service.llm.options import LLMOptions, make_adjudicator

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"


def sample_rows(tmp_path: Path, n: int) -> Path:
    """The first n answers of the shipped sample survey, as a CSV."""
    path = tmp_path / "sample.csv"
    pd.read_csv(SAMPLE, dtype=str).head(n).to_csv(path, index=False)
    return path


def test_llm_check_says_the_server_answers_with_constrained_output(llm_server: Any) -> None:
    result = CliRunner().invoke(app, ["llm", "check", "--llm-url", llm_server.url])
    assert result.exit_code == 0, result.output
    assert "conforms" in result.output and "schema-constrained output works with" in result.output


def test_constrained_answers_parse_and_stay_within_the_schema(llm_server: Any) -> None:
    book = load_codebook("employer-support")
    client = OpenAIChat(llm_server.url, "gemma", timeout=120)
    candidates = ["fees_full", "fees_part", "study_time"]
    for text in ["they paid my course fees", "I got time off for lectures", "nothing"]:
        schema = answer_schema(candidates, multi_label=book.multi_label)
        answer = client(build_messages(book, text, candidates, [("paid study leave", "study_time")]), schema)
        assert set(answer) == {"codes", "confidence", "reason"}
        assert answer["codes"] and set(answer["codes"]) <= {*candidates, NONE}
        assert 0 <= answer["confidence"] <= 1 and isinstance(answer["reason"], str)
    assert client.mode is not None  # the constraint form the server took is remembered


def test_a_batch_with_the_adjudicator_then_a_rerun_from_the_cache(llm_server: Any, tmp_path: Path) -> None:
    data = sample_rows(tmp_path, 16)
    args = ["code", str(data), "--column", "support", "--codebook", "employer-support", "--llm-url", llm_server.url,
            "--llm-timeout", "120", "-o", str(tmp_path / "out.csv"), "--show", "0"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    asked = int(re.search(r"asked (\d+)", first.output).group(1))
    calls = int(re.search(r"calls (\d+)", first.output).group(1))
    assert asked > 0 and calls >= asked - int(re.search(r"from cache (\d+)", first.output).group(1))
    coded = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert len(coded) == 16
    for _, row in coded[coded["support_method"] == "llm"].iterrows():
        evidence = json.loads(row["support_evidence"])
        note = next(e["text"] for e in evidence if e["kind"] == "note" and "candidates:" in e["text"])
        shortlist = note.split("candidates: ")[1].split(", ")
        assert set(row["support_code"].split("|")) <= set(shortlist)  # the model never invents a code
    again = CliRunner().invoke(app, [*args[:-4], "-o", str(tmp_path / "again.csv"), "--show", "0"])
    assert again.exit_code == 0, again.output
    assert "calls 0" in again.output and f"from cache {asked}" in again.output
    rerun = pd.read_csv(tmp_path / "again.csv", dtype=str)
    assert rerun["support_code"].tolist() == coded["support_code"].tolist()


def test_a_server_stopped_mid_batch_leaves_the_batch_complete(launch_llama: Any, minilm: Encoder, tmp_path: Path) -> None:
    server = launch_llama()
    client = OpenAIChat(server.url, "gemma", timeout=60)
    calls = 0

    def chat_then_stop(messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 3:
            server.kill()  # the server goes away in the middle of the batch
        return client(messages, schema)

    base = Cascade(minilm, load_codebook("employer-support")).fit([], [])
    adjudicator = make_adjudicator(base, LLMOptions(url=server.url, concurrency=1), chat=chat_then_stop,
                                   cache=LLMCache(tmp_path / "cache.sqlite3"))
    data = sample_rows(tmp_path, 20)
    summary = run_batch(data, "support", classifier_decider(adjudicator), tmp_path / "out.csv", job_key="stop-test",
                        progress=False, work_dir=tmp_path / "work")
    coded = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert summary.rows == len(coded) == 20  # the batch finished, every row written
    stats = adjudicator.stats
    assert stats.decided + stats.none >= 1 and stats.failed >= 1
    unusable = coded[coded["support_evidence"].str.contains("no usable answer", na=False)]
    assert len(unusable) >= 1 and (unusable["support_needs_review"] == "True").all()
    assert unusable["support_evidence"].str.contains("unreachable").any()


LIKELIHOOD_CHECK = """
import json, sys
from autocode.classifiers.adjudicator import answer_schema, build_messages
from autocode.classifiers.codebook import load_codebook
from autocode.service.llm.likelihood import LikelihoodChooser

chooser = LikelihoodChooser(sys.argv[1])
candidates = ["fees_full", "study_time"]
messages = build_messages(load_codebook("employer-support"), "they paid all my fees", candidates, [])
answer = chooser(messages, answer_schema(candidates, multi_label=True))
print(json.dumps({"answer": answer, "evaluations": chooser.evaluations}))
"""


def test_likelihood_scoring_picks_a_candidate_with_a_base_model(gemma_gguf: Path) -> None:
    # In a child process: llama.cpp runs in-process here, and a crash in native code must fail this test, not the suite.
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", LIKELIHOOD_CHECK, str(gemma_gguf)], check=False, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, f"exit {run.returncode}:\n{run.stderr[-3000:]}"
    found = json.loads(run.stdout.strip().splitlines()[-1])
    answer = found["answer"]
    assert answer["codes"][0] in {"fees_full", "study_time", NONE}
    assert 0 < answer["confidence"] <= 1 and "likelihood" in answer["reason"]
    assert found["evaluations"] == 3  # each candidate and `none` scored once, after one shared prompt
