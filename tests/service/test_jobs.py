"""Background jobs: uploads are validated and kept, a worker codes them, progress moves, a stop resumes, jobs persist.

Where coding quality matters the real zero-shot cascade decides (real MiniLM, built-in `employer-support`);
tests about bookkeeping only (progress, stop and resume, failures) use `fake_upper_decider` and say so.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import autocode.service.batch.jobs as jobs_module
from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.embeddings import Encoder
from autocode.service.batch.jobs import JOB_STATES, Job, JobError, JobRunner, JobStore, JobTooLarge
from autocode.service.batch.runner import (
    PREDICTION_FIELDS,
    BatchInterrupted,
    Decide,
    classifier_decider,
    run_batch,
)
from autocode.service.tables.formats import read_table

ANSWERS = [
    "Fees were fully paid by my employer",
    "No support from employer",
    "I got paid study leave on exam days",
    "they paid half my course fee but not my study time",
    "My manager asked me to take this course for the new project",
]
NEW_COLUMNS = ["code", "label", "confidence", "method", "needs_review", "evidence"]


def fake_upper_decider(texts: list[str]) -> list[dict[str, object]]:
    """Not a classifier: codes a text as its upper-cased self, for tests of the jobs' bookkeeping."""
    return [{"code": t.upper(), "label": t, "confidence": 1.0, "method": "fake", "needs_review": False, "evidence": "[]"} for t in texts]


class SlowCounting:
    """fake_upper_decider that sleeps per call, records every text it is asked, and signals after `signal_after` calls."""

    def __init__(self, delay: float = 0.0, signal_after: int | None = None) -> None:
        self.delay, self.signal_after = delay, signal_after
        self.seen: list[str] = []
        self.calls = 0
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[dict[str, object]]:
        with self._lock:
            self.seen.extend(texts)
            self.calls += 1
            if self.signal_after is not None and self.calls >= self.signal_after:
                self.reached.set()
        time.sleep(self.delay)
        return fake_upper_decider(texts)


def fixed(decide: Decide) -> Callable[[Job], tuple[Decide, Mapping[str, pa.DataType]]]:
    """A decider_for that gives every job the same decider."""
    return lambda job: (decide, PREDICTION_FIELDS)


def _csv(rows: int, column: str = "answer") -> bytes:
    frame = pd.DataFrame({"id": [f"R{i:03d}" for i in range(rows)], column: [f"answer number {i}" for i in range(rows)]})
    return frame.to_csv(index=False).encode()


def _wait(store: JobStore, job_id: str, states: tuple[str, ...] = ("done", "failed"), timeout: float = 120.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        assert job is not None
        if job.state in states:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {states}: {store.get(job_id)}")


def _job_dirs(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.is_dir()]


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs")


# ---------------------------------------------------------------------------------------------- create


def test_create_keeps_the_upload_and_queues_a_job(store: JobStore) -> None:
    job = store.create(io.BytesIO(_csv(5)), "../../etc/My Survey (1).csv", "answer", "codebook:employer-support")
    assert JobStore.valid_id(job.job_id) and job.state == "queued" and job.state in JOB_STATES
    assert job.filename == "My Survey (1).csv"
    assert Path(job.input_path) == store.root / job.job_id / "input.csv"
    assert Path(job.input_path).read_bytes() == _csv(5)
    assert (job.rows_done, job.rows_total, job.output_path, job.error, job.summary, job.restarts) == (0, None, None, None, None, 0)
    assert store.get(job.job_id) == job
    assert store.result_path(job) == store.root / job.job_id / "result.csv"
    assert job.to_dict()["target"] == "codebook:employer-support"


def test_create_refuses_an_unsupported_type_and_names_the_allowed_ones(store: JobStore) -> None:
    with pytest.raises(JobError, match=r"\.csv.*\.xlsx") as err:
        store.create(b"%PDF-1.4", "report.pdf", "answer", "employers")
    assert "report.pdf" in str(err.value)
    assert _job_dirs(store.root) == [] and store.list() == []


def test_create_refuses_a_missing_column_naming_the_columns_not_the_server_path(store: JobStore) -> None:
    with pytest.raises(JobError) as err:
        store.create(_csv(3), "survey.csv", "comments", "employers")
    message = str(err.value)
    assert "survey.csv" in message and "'comments'" in message and "id, answer" in message
    assert str(store.root) not in message
    assert _job_dirs(store.root) == [] and store.list() == []


def test_create_refuses_an_unreadable_file(store: JobStore) -> None:
    with pytest.raises(JobError, match="not a readable XLSX"):
        store.create(b"this is not a workbook", "book.xlsx", "answer", "employers")
    assert _job_dirs(store.root) == []


def test_create_refuses_an_upload_over_the_limit_leaving_nothing(store: JobStore) -> None:
    data = _csv(200)
    with pytest.raises(JobTooLarge) as err:
        store.create(io.BytesIO(data), "big.csv", "answer", "employers", max_bytes=len(data) - 1)
    assert err.value.limit == len(data) - 1 and isinstance(err.value, JobError)
    with pytest.raises(JobTooLarge):
        store.create(data, "big.csv", "answer", "employers", max_bytes=100)
    assert _job_dirs(store.root) == [] and list(store.root.glob("**/*.partial")) == []
    assert store.create(data, "big.csv", "answer", "employers", max_bytes=len(data)).state == "queued"


def test_ids_from_urls_are_checked_before_the_disk_is_touched(store: JobStore) -> None:
    for bad in ["../../etc/passwd", "", "ABCDEF0123456789", "0123456789abcdef0", "jobs.sqlite3"]:
        assert not JobStore.valid_id(bad)
        assert store.get(bad) is None
    assert store.get("0123456789abcdef") is None


def test_update_refuses_unknown_fields_and_states(store: JobStore) -> None:
    job = store.create(_csv(2), "a.csv", "answer", "employers")
    with pytest.raises(JobError):
        store.update(job.job_id, input_path="/etc/passwd")
    with pytest.raises(JobError):
        store.update(job.job_id, state="exploded")
    updated = store.update(job.job_id, rows_done=1, rows_total=2, summary={"issues": ["row 2: empty cell"]})
    assert updated is not None and (updated.rows_done, updated.rows_total) == (1, 2)
    assert updated.summary == {"issues": ["row 2: empty cell"]} and updated.updated_at >= job.updated_at


def test_jobs_persist_for_a_new_store_newest_first(tmp_path: Path) -> None:
    first = JobStore(tmp_path / "jobs")
    a = first.create(_csv(2), "a.csv", "answer", "employers")
    b = first.create(_csv(3), "b.csv", "answer", "model:mine")
    first.update(a.job_id, state="failed", error="it broke")
    first.close()
    again = JobStore(tmp_path / "jobs")
    assert [j.job_id for j in again.list()] == [b.job_id, a.job_id]
    assert again.get(a.job_id).error == "it broke"  # type: ignore[union-attr]
    assert [j.job_id for j in again.claimable()] == [b.job_id]
    assert again.list(limit=1)[0].target == "model:mine"


# ---------------------------------------------------------------------------------------------- run_batch hooks


def test_run_batch_reports_progress_within_a_chunk_and_after_it(tmp_path: Path) -> None:
    """Bookkeeping only: fake_upper_decider."""
    source = tmp_path / "s.csv"
    source.write_bytes(_csv(100))
    seen: list[tuple[int, int | None]] = []
    summary = run_batch(source, "answer", fake_upper_decider, tmp_path / "out.csv", job_key="p", chunk_rows=50,
                        decide_batch=10, progress=False, on_progress=lambda done, total: seen.append((done, total)))
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == summary.rows == 100
    assert any(0 < d < 50 for d in done)  # moved inside the first chunk, slice by slice
    assert seen[-1][1] is not None and seen[-1][1] >= 100


def test_run_batch_stop_keeps_finished_chunks_and_resume_finishes_the_rest(tmp_path: Path) -> None:
    """Bookkeeping only: a counting fake_upper_decider."""
    source = tmp_path / "s.csv"
    source.write_bytes(_csv(50))
    decide = SlowCounting()
    work = tmp_path / "work"
    with pytest.raises(BatchInterrupted) as stop:
        run_batch(source, "answer", decide, tmp_path / "out.csv", job_key="k", chunk_rows=10, progress=False,
                  work_dir=work, stop=lambda: decide.calls >= 2)
    assert stop.value.rows_done == 20 and len(decide.seen) == 20 and not (tmp_path / "out.csv").exists()
    again = SlowCounting()
    summary = run_batch(source, "answer", again, tmp_path / "out.csv", job_key="k", chunk_rows=10, progress=False,
                        work_dir=work, resume=True)
    assert summary.resumed_from_row == 20 and summary.rows == 50
    assert again.seen == [f"answer number {i}" for i in range(20, 50)]
    assert list(read_table(tmp_path / "out.csv")["answer_code"]) == [f"ANSWER NUMBER {i}" for i in range(50)]


# ---------------------------------------------------------------------------------------------- the runner


def test_a_job_is_coded_by_the_real_zero_shot_cascade(store: JobStore, minilm: Encoder) -> None:
    cascade = Cascade(minilm, load_codebook("employer-support")).fit([], [])
    frame = pd.DataFrame({"id": [f"R{i:02d}" for i in range(15)], "support": [ANSWERS[i % 5] for i in range(15)]})
    job = store.create(frame.to_csv(index=False).encode(), "survey.csv", "support", "codebook:employer-support")
    runner = JobRunner(store, fixed(classifier_decider(cascade)), chunk_rows=4)
    runner.start()
    runner.submit(job)
    try:
        done = _wait(store, job.job_id)
    finally:
        assert runner.stop(timeout=30)
    assert done.state == "done" and done.error is None
    assert done.output_path is not None and Path(done.output_path) == store.result_path(done)
    assert (done.rows_done, done.rows_total) == (15, 15)
    assert done.summary is not None
    assert {"auto_coded", "needs_review", "invalid_rows", "skipped_rows", "unique_texts", "issues"} <= set(done.summary)
    assert done.summary["auto_coded"] + done.summary["needs_review"] == 15 and done.summary["invalid_rows"] == 0
    coded = read_table(Path(done.output_path))
    assert list(coded.columns) == ["id", "support"] + [f"support_{c}" for c in NEW_COLUMNS]
    assert list(coded["id"]) == list(frame["id"]) and list(coded["support"]) == list(frame["support"])
    by_text = dict(zip(coded["support"], coded["support_code"], strict=False))
    assert "fees_full" in by_text[ANSWERS[0]] and "no_support" in by_text[ANSWERS[1]]
    assert not (store.root / job.job_id / "work").exists()  # the parts are gone once the result is written
    assert runner.queue_depth() == 0 and runner.running_job() is None


@pytest.mark.parametrize("suffix", [".xlsx", ".jsonl"])
def test_xlsx_and_jsonl_uploads_come_back_in_their_own_format(store: JobStore, suffix: str) -> None:
    """Bookkeeping only: fake_upper_decider."""
    frame = pd.DataFrame({"id": ["a", "b", "c"], "employer": ["Acme Ltd", "DBS Bank", "Acme Ltd"]})
    buffer = io.BytesIO()
    if suffix == ".xlsx":
        frame.to_excel(buffer, index=False)
    else:
        frame.to_json(buffer, orient="records", lines=True)
    job = store.create(buffer.getvalue(), f"employers{suffix}", "employer", "employers")
    runner = JobRunner(store, fixed(fake_upper_decider))
    runner.start()
    try:
        done = _wait(store, job.job_id)
    finally:
        runner.stop()
    assert done.state == "done" and Path(done.output_path or "").suffix == suffix
    coded = read_table(Path(done.output_path or ""))
    assert list(coded["id"]) == ["a", "b", "c"] and list(coded["employer_code"]) == ["ACME LTD", "DBS BANK", "ACME LTD"]
    assert done.summary is not None and done.summary["unique_texts"] == 2


def test_progress_moves_while_a_job_runs(store: JobStore) -> None:
    """Bookkeeping only: a slow fake_upper_decider (0.1 s per 10-row chunk, so a 3 s job)."""
    job = store.create(_csv(300), "slow.csv", "answer", "employers")
    runner = JobRunner(store, fixed(SlowCounting(delay=0.1)), chunk_rows=10)
    runner.start()
    observed: list[tuple[int, int | None]] = []
    try:
        while (current := store.get(job.job_id)) is not None and current.state not in ("done", "failed"):
            observed.append((current.rows_done, current.rows_total))
            time.sleep(0.05)
    finally:
        runner.stop()
    assert store.get(job.job_id).state == "done"  # type: ignore[union-attr]
    partial = [(d, t) for d, t in observed if 0 < d < 300]
    assert partial, observed
    assert all(t is not None and t >= d for d, t in partial)
    assert [d for d, _ in observed] == sorted(d for d, _ in observed)


def test_a_stopped_job_resumes_in_a_new_runner_without_deciding_done_rows_again(tmp_path: Path) -> None:
    """Bookkeeping only: a slow counting fake_upper_decider; the second store and runner stand for a restarted server."""
    root = tmp_path / "jobs"
    store = JobStore(root)
    job = store.create(_csv(100), "survey.csv", "answer", "employers")
    first = SlowCounting(delay=0.05, signal_after=3)
    runner = JobRunner(store, fixed(first), chunk_rows=10)
    runner.start()
    assert first.reached.wait(30)
    assert runner.stop(timeout=30)
    stopped = store.get(job.job_id)
    assert stopped is not None and stopped.state == "running"
    assert 30 <= stopped.rows_done < 100 and stopped.rows_done % 10 == 0
    # Every chunk the first decider was asked about was saved: the stop comes between chunks or slices only.
    assert len(first.seen) == stopped.rows_done
    assert (root / job.job_id / "work" / "state.json").is_file()
    store.close()

    store2 = JobStore(root)
    second = SlowCounting()
    runner2 = JobRunner(store2, fixed(second), chunk_rows=10)
    runner2.start()
    try:
        done = _wait(store2, job.job_id)
    finally:
        runner2.stop()
    assert done.state == "done" and done.restarts == 1 and done.rows_done == 100
    assert not set(first.seen) & set(second.seen)
    assert sorted(first.seen + second.seen) == sorted(f"answer number {i}" for i in range(100))
    coded = read_table(Path(done.output_path or ""))
    assert list(coded["id"]) == [f"R{i:03d}" for i in range(100)]
    assert list(coded["answer_code"]) == [f"ANSWER NUMBER {i}" for i in range(100)]


def test_a_failing_decider_fails_its_job_with_one_line_and_the_next_job_runs(store: JobStore, caplog: pytest.LogCaptureFixture) -> None:
    """Bookkeeping only: fake_upper_decider, and one that raises."""

    def exploding_decider(texts: list[str]) -> list[dict[str, object]]:
        raise RuntimeError("the model exploded\nwhile deciding")

    def decider_for(job: Job) -> tuple[Decide, Mapping[str, pa.DataType]]:
        return (exploding_decider if job.target == "model:broken" else fake_upper_decider), PREDICTION_FIELDS

    bad = store.create(_csv(5), "a.csv", "answer", "model:broken")
    good = store.create(_csv(5), "b.csv", "answer", "employers")
    runner = JobRunner(store, decider_for)
    with caplog.at_level("ERROR", logger="autocode.jobs"):
        runner.start()
        try:
            failed = _wait(store, bad.job_id)
            finished = _wait(store, good.job_id)
        finally:
            runner.stop()
    assert failed.state == "failed" and failed.error == "RuntimeError: the model exploded while deciding"
    assert "Traceback" not in (failed.error or "") and failed.summary is None
    assert finished.state == "done" and finished.rows_done == 5
    assert any(r.exc_info for r in caplog.records if bad.job_id in r.getMessage())


def test_a_decider_breaking_its_contract_fails_with_the_runners_message(store: JobStore) -> None:
    """Bookkeeping only: a decider that returns too few results."""
    job = store.create(_csv(5), "a.csv", "answer", "employers")
    runner = JobRunner(store, fixed(lambda texts: fake_upper_decider(texts)[:-1]))
    runner.start()
    try:
        failed = _wait(store, job.job_id)
    finally:
        runner.stop()
    assert failed.state == "failed" and failed.error == "the decider returned 4 results for 5 texts"


def test_jobs_are_run_oldest_first_and_a_submitted_job_wakes_the_worker(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bookkeeping only: fake_upper_decider, recording the order jobs reach it."""
    monkeypatch.setattr(jobs_module, "_POLL_S", 60.0)  # only a wake-up, not the idle poll, can start the late job in time
    order: list[str] = []

    def decider_for(job: Job) -> tuple[Decide, Mapping[str, pa.DataType]]:
        order.append(job.job_id)
        return fake_upper_decider, PREDICTION_FIELDS

    jobs = [store.create(_csv(3), f"{i}.csv", "answer", "employers") for i in range(3)]
    runner = JobRunner(store, decider_for)
    runner.start()
    try:
        for job in jobs:
            _wait(store, job.job_id)
        late = store.create(_csv(3), "late.csv", "answer", "employers")
        started = time.monotonic()
        runner.submit(late)
        assert _wait(store, late.job_id).state == "done"
        assert time.monotonic() - started < 30
    finally:
        runner.stop()
    assert order == [j.job_id for j in jobs] + [late.job_id]


def test_a_second_runner_on_the_same_folder_waits_instead_of_stealing_a_live_job(tmp_path: Path) -> None:
    """Bookkeeping only: a slow fake_upper_decider keeps the first runner busy."""
    root = tmp_path / "jobs"
    store = JobStore(root)
    job = store.create(_csv(100), "s.csv", "answer", "employers")
    slow = SlowCounting(delay=0.1, signal_after=1)
    first = JobRunner(store, fixed(slow), chunk_rows=10)
    first.start()
    assert slow.reached.wait(30)
    second = JobRunner(JobStore(root), fixed(fake_upper_decider), chunk_rows=10)
    second.start()
    try:
        time.sleep(0.3)
        live = store.get(job.job_id)
        assert live is not None and live.state in ("running", "done") and live.restarts == 0
        assert second.running_job() is None
        assert first.stop(timeout=30)
        done = _wait(store, job.job_id)  # the second runner takes over once the first lets go
    finally:
        second.stop()
    assert done.state == "done" and done.rows_done == 100
