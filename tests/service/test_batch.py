"""The batch runner: every format round-trips, texts are decided once, bad rows don't stop a run, kills resume.

Where a decision is involved the real zero-shot classifier (real MiniLM, built-in `employer-support`) decides;
tests about bookkeeping only (resume, memory) use a trivial decider and say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.methods.zeroshot import ZeroShotClassifier
from autocode.embeddings import Encoder
from autocode.service.batch.runner import (
    BatchInterrupted,
    classifier_decider,
    interrupted_run,
    make_job_key,
    run_batch,
    work_dir_for,
)
from autocode.service.cli import app
from autocode.service.tables.formats import read_table

REPO = Path(__file__).resolve().parents[2]
ANSWERS = [
    "Fees were fully paid by my employer",
    "No support from employer",
    "I got paid study leave on exam days",
    "they paid half my course fee but not my study time",
    "My manager asked me to take this course for the new project",
]
NEW_COLUMNS = ["code", "label", "confidence", "method", "needs_review", "evidence"]


@pytest.fixture(scope="module")
def zero_shot(minilm: Encoder) -> ZeroShotClassifier:
    return ZeroShotClassifier(minilm, load_codebook("employer-support")).fit()


class Counting:
    """Wraps a decider and records what it was asked."""

    def __init__(self, decide) -> None:
        self.decide = decide
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[dict[str, object]]:
        self.calls.append(list(texts))
        return self.decide(texts)


def trivial_decider(texts: list[str], method: str = "trivial") -> list[dict[str, object]]:
    """Not a classifier: codes a text by its last word, for tests of the runner's bookkeeping."""
    return [{"code": t.split()[-1], "label": t, "confidence": 1.0, "method": method, "needs_review": False, "evidence": "[]"} for t in texts]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        frame.to_csv(path, sep="," if suffix == ".csv" else "\t", index=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx", ".jsonl", ".parquet"])
def test_every_format_round_trips_rows_in_order_and_leaves_the_input_alone(
    tmp_path: Path, zero_shot: ZeroShotClassifier, suffix: str
) -> None:
    frame = pd.DataFrame({"id": [f"R{i:03d}" for i in range(12)], "support": [ANSWERS[i % 5] for i in range(12)], "score": range(12)})
    source = tmp_path / f"survey{suffix}"
    _write(frame, source)
    before = _sha(source)
    out = tmp_path / f"coded{suffix}"
    summary = run_batch(source, "support", classifier_decider(zero_shot), out, job_key=make_job_key(source, "support", "zs"), chunk_rows=5)
    assert _sha(source) == before
    coded = read_table(out)
    assert list(coded.columns) == ["id", "support", "score"] + [f"support_{c}" for c in NEW_COLUMNS]
    assert list(coded["id"]) == list(frame["id"]) and list(coded["support"]) == list(frame["support"])
    assert [str(v) for v in coded["score"]] == [str(v) for v in frame["score"]]
    by_text = dict(zip(coded["support"], coded["support_code"], strict=False))
    assert "fees_full" in by_text[ANSWERS[0]] and "no_support" in by_text[ANSWERS[1]]
    assert all(json.loads(e)[0]["kind"] == "label" for e in coded["support_evidence"])
    assert (summary.rows, summary.unique_texts, summary.invalid_rows) == (12, 5, 0)
    assert summary.auto_coded + summary.needs_review == 12
    assert not work_dir_for(make_job_key(source, "support", "zs")).exists()


def test_identical_texts_are_decided_once_across_chunks(tmp_path: Path, zero_shot: ZeroShotClassifier) -> None:
    texts = ["Company paid my fees", "company PAID my   fees", " Company paid my fees ", "No support from employer",
             "no support from EMPLOYER", "COMPANY PAID MY FEES"]
    source = tmp_path / "dups.csv"
    pd.DataFrame({"support": texts}).to_csv(source, index=False)
    decide = Counting(classifier_decider(zero_shot))
    summary = run_batch(source, "support", decide, tmp_path / "out.csv", job_key="dups", chunk_rows=2, progress=False)
    # Each distinct answer is decided once, in the spelling it was first written in.
    assert sorted(t for call in decide.calls for t in call) == ["Company paid my fees", "No support from employer"]
    coded = read_table(tmp_path / "out.csv")
    assert coded["support_code"].nunique() == 2 and summary.unique_texts == 2
    assert list(coded["support"]) == texts


def test_bad_rows_are_reported_by_number_coded_for_review_and_the_run_goes_on(
    tmp_path: Path, zero_shot: ZeroShotClassifier, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.csv"
    long_text = "My employer paid the full course fee. " * 10  # 380 characters
    source.write_bytes(
        b"id,support\n"
        b"1,Fees were fully paid by my employer\n"
        b"2,\n"
        + f"3,{long_text}\n".encode()
        + b"4,my boss paid \xff\xfe half\n"
        b"5,this,line,has,too many fields\n"
        b"6,   \n"
        b"7,No support from employer\n"
    )
    before = _sha(source)
    out = tmp_path / "bad.coded.csv"
    summary = run_batch(source, "support", classifier_decider(zero_shot), out, job_key="bad", max_chars=200, chunk_rows=3)
    err = capsys.readouterr().err
    for line in ["row 2: empty cell", "row 3: text too long (380 characters, at most 200)", "row 4: undecodable bytes",
                 "line 6: expected 2 fields, found 5; skipped", "row 5: empty cell"]:
        assert line in err
    assert (summary.rows, summary.invalid_rows, summary.skipped_rows, summary.needs_review >= 4) == (6, 4, 1, True)
    coded = read_table(out).set_index("id")
    assert list(coded.index) == ["1", "2", "3", "4", "6", "7"]
    for rid in ["2", "3", "4", "6"]:
        assert coded.loc[rid, "support_needs_review"] == "True" and coded.loc[rid, "support_method"] == "invalid"
        assert json.loads(coded.loc[rid, "support_evidence"])[0]["kind"] == "error"
    assert coded.loc["2", "support_code"] == "" and "fees_full" in coded.loc["3", "support_code"]  # best guess kept
    assert coded.loc["1", "support_method"] == coded.loc["7", "support_method"] == "zero-shot"
    assert "no_support" in coded.loc["7", "support_code"]
    assert _sha(source) == before


def test_the_report_is_capped(tmp_path: Path) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("id,text\n" + "".join(f"{i},\n" for i in range(30)) + "30,fine text\n", encoding="utf-8")
    lines: list[str] = []
    summary = run_batch(source, "text", trivial_decider, tmp_path / "o.csv", job_key="cap", report=lines.append, chunk_rows=7)
    assert lines[:2] == ["row 1: empty cell", "row 2: empty cell"]
    assert len(lines) == 21 and lines[-1] == "... and 10 more"
    assert summary.invalid_rows == 30 and summary.auto_coded == 1


_KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from autocode.service.batch.runner import run_batch

    def slow(texts):  # a trivial decider, slowed so the test can kill it mid-run
        time.sleep(0.15)
        return [{"code": t.split()[-1], "label": t, "confidence": 1.0, "method": "first-run",
                 "needs_review": False, "evidence": "[]"} for t in texts]

    run_batch(Path(sys.argv[1]), "text", slow, Path(sys.argv[2]), job_key=sys.argv[3], chunk_rows=1000, progress=False)
    """
)


def test_a_run_killed_with_sigkill_resumes_and_writes_every_row_once(tmp_path: Path) -> None:
    rows = 30_000
    source = tmp_path / "big.csv"
    source.write_text("id,text\n" + "".join(f"{i},answer number {i}\n" for i in range(rows)), encoding="utf-8")
    out = tmp_path / "out" / "big.coded.csv"
    key = make_job_key(source, "text", "trivial")
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(source), str(out), key], cwd=REPO, env=os.environ.copy())
    work = work_dir_for(key)
    deadline = time.monotonic() + 240  # generous: start-up imports are slow on a loaded 2-core machine
    try:
        # The saved state, not the part files, says what is done: a part is written just before its state.
        while (interrupted_run(key) or 0) < 3000:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no parts appeared"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # the output appears whole or not at all
    done = interrupted_run(key)
    assert done is not None and done >= 3000

    summary = run_batch(source, "text", lambda t: trivial_decider(t, "second-run"), out, job_key=key, resume=True, chunk_rows=1000)
    coded = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(coded["id"]) == [str(i) for i in range(rows)]  # every row exactly once, in order
    assert summary.rows == rows and summary.resumed_from_row == done and done % 1000 == 0
    assert set(coded["text_method"][:done]) == {"first-run"} and set(coded["text_method"][done:]) == {"second-run"}
    assert (coded["text_code"] == coded["id"]).all()
    assert not work.exists() and [p.name for p in out.parent.iterdir()] == ["big.coded.csv"]


def test_ctrl_c_keeps_a_resumable_state_and_a_plain_rerun_starts_fresh(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"text {i}"}) + "\n" for i in range(50)), encoding="utf-8")
    out = tmp_path / "s.coded.parquet"
    calls = []

    def interrupted_on_third_call(texts: list[str]) -> list[dict[str, object]]:
        calls.append(texts)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return trivial_decider(texts)

    with pytest.raises(BatchInterrupted) as stop:
        run_batch(source, "text", interrupted_on_third_call, out, job_key="ctrl-c", chunk_rows=10)
    assert stop.value.rows_done == 20 and interrupted_run("ctrl-c") == 20 and not out.exists()

    decide = Counting(trivial_decider)
    resumed = run_batch(source, "text", decide, out, job_key="ctrl-c", resume=True, chunk_rows=10)
    assert resumed.resumed_from_row == 20 and resumed.rows == 50 and len(decide.calls) == 3
    assert pd.read_parquet(out)["id"].tolist() == list(range(50))
    assert interrupted_run("ctrl-c") is None

    calls.clear()
    with pytest.raises(BatchInterrupted):
        run_batch(source, "text", interrupted_on_third_call, out, job_key="again", chunk_rows=10)
    fresh = run_batch(source, "text", trivial_decider, out, job_key="again", chunk_rows=10)
    assert fresh.resumed_from_row == 0 and fresh.rows == 50


def test_a_large_csv_streams_in_chunks_within_bounded_python_memory(tmp_path: Path) -> None:
    rows, chunk = 200_000, 10_000
    source = tmp_path / "large.csv"
    with open(source, "w", encoding="utf-8") as fh:
        fh.write("id,text,country\n")
        fh.writelines(f"{i},Answer number {i % 5000} about my employer,SG\n" for i in range(rows))
    decide = Counting(trivial_decider)
    tracemalloc.start()
    try:
        summary = run_batch(source, "text", decide, tmp_path / "large.coded.parquet", job_key="large", chunk_rows=chunk, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.rows == rows and summary.unique_texts == 5000
    assert max(len(c) for c in decide.calls) <= chunk
    # The file's rows as Python lists (csv.reader) take ~57 MB; one 10k-row chunk at a time takes ~5 MB.
    assert peak < 12_000_000, f"peak Python memory {peak / 1e6:.1f} MB"


runner = CliRunner()


def test_cli_writes_next_to_the_input_by_default_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    source = tmp_path / "answers.tsv"
    pd.DataFrame({"support": ANSWERS}).to_csv(source, sep="\t", index=False)
    result = runner.invoke(app, ["code", str(source), "-c", "support", "--codebook", "employer-support", "--show", "2"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "answers.coded.tsv").is_file()
    printed = " ".join(result.output.split())  # rich wraps at the test terminal's width
    assert "auto-coded" in printed and "sent to review" in printed and "invalid 0" in printed
    same = runner.invoke(app, ["code", str(source), "-c", "support", "--codebook", "employer-support", "-o", str(source)])
    assert same.exit_code == 2 and "overwrite the input" in same.output
    neither = runner.invoke(app, ["code", str(source), "-c", "support"])
    assert neither.exit_code == 2 and "--codebook" in neither.output
    model = runner.invoke(app, ["code", str(source), "-c", "support", "--model", str(tmp_path / "no-model")])
    assert model.exit_code == 2 and "model" in model.output


def test_a_resumed_run_decides_in_the_same_calls_as_an_uninterrupted_one(tmp_path: Path) -> None:
    # Unit test of the bookkeeping (a fake decider): its fields carry the size of the call that decided a text, as a
    # real encoder's last digits depend on its batch. A resume must recall what finished chunks decided, not redo it.
    source = tmp_path / "s.csv"
    # Rows 0-29 hold 7 answers; later, every even row repeats one of them and every odd row is new.
    texts = [f"answer {i % 7}" if i < 30 or i % 2 == 0 else f"answer {i}" for i in range(60)]
    source.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts)), encoding="utf-8")

    def by_batch(texts: list[str]) -> list[dict[str, object]]:
        return [{"code": t, "label": t, "confidence": 1.0 / len(texts), "method": "fake", "needs_review": False,
                 "evidence": "[]"} for t in texts]

    whole = run_batch(source, "text", by_batch, tmp_path / "whole.csv", job_key="whole", chunk_rows=10)
    calls = []

    def killed_on_third_call(texts: list[str]) -> list[dict[str, object]]:
        calls.append(texts)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return by_batch(texts)

    with pytest.raises(BatchInterrupted):
        run_batch(source, "text", killed_on_third_call, tmp_path / "resumed.csv", job_key="resumed", chunk_rows=10)
    decide = Counting(by_batch)
    resumed = run_batch(source, "text", decide, tmp_path / "resumed.csv", job_key="resumed", resume=True, chunk_rows=10)
    assert resumed.resumed_from_row == 40 and whole.rows == resumed.rows == 60
    # The repeated answers were recalled from the finished chunks, not decided again in bigger calls.
    assert [len(call) for call in decide.calls] == [5, 5]
    assert (tmp_path / "resumed.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
