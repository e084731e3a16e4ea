"""The feedback store: rows as stored, order, counts, persistence across instances, WAL, and replay into memory."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.feedback import FeedbackMemory
from autocode.embeddings import Encoder
from autocode.service.stores.feedback import FeedbackStore, default_feedback_path

TARGET = "codebook:employer-support"


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    with FeedbackStore(tmp_path / "feedback.sqlite3") as s:
        yield s


def test_default_path_is_under_autocode_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOCODE_HOME", str(tmp_path / "home"))
    assert default_feedback_path() == tmp_path / "home" / "feedback.sqlite3"
    with FeedbackStore() as s:
        assert s.path == tmp_path / "home" / "feedback.sqlite3" and s.path.is_file()


def test_add_returns_the_stored_row(store: FeedbackStore) -> None:
    prediction = {"codes": ("fees_full",), "confidence": 0.61, "method": "zero-shot", "evidence": []}
    row = store.add(TARGET, "work paid it all", ["fees_full", "required"], prediction=prediction, note="per HR", key_id="k1")
    assert isinstance(row["feedback_id"], int) and row["feedback_id"] > 0
    assert row["created_at"].endswith("+00:00")
    assert {k: v for k, v in row.items() if k not in ("feedback_id", "created_at")} == {
        "target": TARGET,
        "text": "work paid it all",
        "codes": ["fees_full", "required"],
        "prediction": {"codes": ["fees_full"], "confidence": 0.61, "method": "zero-shot", "evidence": []},
        "note": "per HR",
        "key_id": "k1",
    }
    bare = store.add(TARGET, "x", ["study_time"])
    assert bare["prediction"] is None and bare["note"] == "" and bare["key_id"] is None
    assert bare["feedback_id"] > row["feedback_id"]


def test_rows_come_back_oldest_first_per_target_with_counts(store: FeedbackStore) -> None:
    first = store.add(TARGET, "a", ["study_time"])
    store.add("model:my-model", "b", ["c1"])
    second = store.add(TARGET, "a", ["unpaid_leave"])
    third = store.add(TARGET, "c", ["no_support"])
    rows = store.for_target(TARGET)
    assert [r["feedback_id"] for r in rows] == [first["feedback_id"], second["feedback_id"], third["feedback_id"]]
    assert rows == [first, second, third]
    assert store.count() == 4 and store.count(TARGET) == 3 and store.count("model:my-model") == 1
    assert store.count("model:nothing") == 0 and store.for_target("model:nothing") == []


def test_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "feedback.sqlite3"
    with FeedbackStore(path) as s:
        written = [s.add(TARGET, f"answer {i}", ["study_time"], note=str(i)) for i in range(3)]
    with FeedbackStore(path) as s:
        assert s.for_target(TARGET) == written
        later = s.add(TARGET, "answer 3", ["required"])
    assert later["feedback_id"] > written[-1]["feedback_id"]
    with FeedbackStore(path) as s:
        assert s.count(TARGET) == 4


def test_uses_wal(store: FeedbackStore) -> None:
    store.add(TARGET, "a", ["study_time"])
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("target", "text", "codes", "match"),
    [("", "a", ["x"], "target"), (TARGET, "  ", ["x"], "empty"), (TARGET, "a", [], "codes"), (TARGET, "a", [""], "codes")],
)
def test_refuses_bad_rows(store: FeedbackStore, target: str, text: str, codes: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        store.add(target, text, codes)
    assert store.count() == 0


def test_concurrent_adds_from_threads_all_land(store: FeedbackStore) -> None:
    def work(n: int) -> None:
        for i in range(25):
            store.add(TARGET, f"t{n}-{i}", ["study_time"])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.for_target(TARGET)
    assert len(rows) == 100 and len({r["feedback_id"] for r in rows}) == 100


def test_replaying_the_store_leaves_the_latest_correction_winning(store: FeedbackStore, minilm: Encoder) -> None:
    codebook = load_codebook("employer-support")
    store.add(TARGET, "my boss let me leave early on exam days", ["study_time"])
    store.add(TARGET, "they paid for my parking", ["other_support"])
    store.add(TARGET, "My boss let me leave early on exam days", ["unpaid_leave"], note="learner says unpaid")
    memory = FeedbackMemory(Cascade(minilm, codebook).fit([], []), minilm, codebook)
    memory.add_many((r["text"], r["codes"], r["note"]) for r in store.for_target(TARGET))
    assert len(memory) == 2
    p = memory.predict(["my boss let me leave early on exam days"])[0]
    assert p.codes == ("unpaid_leave",) and p.method == "feedback"
