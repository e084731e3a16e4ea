"""The review queue with the real encoder and classifier: grouping, deciding, learning, undo, resume and export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from autocode.embeddings import Encoder
from autocode.errors import InvalidError, NotFoundError
from autocode.service.review.sessions import ReviewSessions, parse_source
from autocode.service.stores.feedback import FeedbackStore

pytestmark = pytest.mark.slow

ANSWERS = [
    ("They paid my course fees in full", True, 0.41),
    ("they paid my course  fees in full", True, 0.41),  # the same answer, spaced differently: one item
    ("They paid my course fees in full", True, 0.41),
    ("They paid my course fees in full!", True, 0.40),  # near-identical: cleared once the first is decided
    ("time off for lectures", True, 0.30),
    ("asdf qwer", True, 0.10),
    ("nothing at all", True, 0.55),
    ("my employer paid all the fees", False, 0.97),  # auto-coded: not in the queue
]


def coded_file(tmp_path: Path) -> Path:
    """A file as `autocode code` writes it for the `support` column (the queue re-suggests with the real model)."""
    rows = [{"respondent_id": f"R{i:02d}", "support": text, "support_code": "other_support", "support_label": "Other support",
             "support_confidence": conf, "support_method": "zero-shot", "support_needs_review": str(review),
             "support_evidence": "[]"} for i, (text, review, conf) in enumerate(ANSWERS)]
    path = tmp_path / "coded.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def open_queue(path: Path, reviewer: str = "tester") -> object:
    return ReviewSessions(reviewer=reviewer).open(path, "support", parse_source("employer-support"))


def test_one_item_per_distinct_answer_ordered_by_rows_or_by_doubt(minilm: Encoder, tmp_path: Path) -> None:
    queue = open_queue(coded_file(tmp_path))
    counts = queue.counts()
    assert counts["items"] == 5 and counts["rows"] == 7 and counts["file_rows"] == 8
    first = queue.next("rows")
    assert first.text == "They paid my course fees in full" and len(first.rows) == 3  # shown as most rows wrote it
    assert first.variants == ["They paid my course fees in full", "they paid my course  fees in full"]
    view = first.view()
    assert view["alternatives"] and view["alternatives"][0]["codes"] == view["codes"]
    assert all(a["score"] >= b["score"] for a, b in zip(view["alternatives"][1:], view["alternatives"][2:], strict=False))
    assert queue.next("uncertain").text == "asdf qwer"


def test_a_decision_decides_every_row_clears_a_near_twin_and_survives_a_restart(minilm: Encoder, tmp_path: Path) -> None:
    path = coded_file(tmp_path)
    queue = open_queue(path)
    item = queue.next("rows")
    result = queue.decide(item.item_id, "choose", "tester", {"codes": ["fees_full"]})
    assert result["decision"]["reviewer"] == "tester" and result["decision"]["codes"] == ["fees_full"]
    cleared = {c["text"]: c for c in result["cleared"]}
    assert "They paid my course fees in full!" in cleared  # the memory now codes its near twin without review
    assert cleared["They paid my course fees in full!"]["codes"] == ["fees_full"]
    assert result["counts"]["decided"] == 1 and result["counts"]["cleared"] == 1
    assert FeedbackStore().count("codebook:employer-support") == 1  # the correction every later run applies

    again = open_queue(path)  # a new process: decisions come back from the store
    assert again.counts()["decided"] == 1
    assert again.next("rows").text != "They paid my course fees in full"
    frame = again.exported()
    original = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert frame["respondent_id"].tolist() == original["respondent_id"].tolist()
    for i, (text, _, _) in enumerate(ANSWERS):
        row = frame.iloc[i]
        if text.rstrip("!").replace("  ", " ").casefold() == "they paid my course fees in full" and not text.endswith("!"):
            assert (row["support_code"], row["support_method"], row["support_reviewer"]) == ("fees_full", "human", "tester")
            assert row["support_needs_review"] in (False, "False")
        elif text.endswith("!"):
            assert row["support_method"] == "feedback-neighbour" and row["support_code"] == "fees_full"
            assert row["support_review"] == "cleared" and row["support_reviewer"] == ""
        else:
            assert row["support_code"] == original.iloc[i]["support_code"] and row["support_reviewer"] == ""


def test_undo_takes_back_the_decision_and_what_it_taught(minilm: Encoder, tmp_path: Path) -> None:
    path = coded_file(tmp_path)
    queue = open_queue(path)
    item = queue.next("rows")
    queue.decide(item.item_id, "choose", "tester", {"codes": ["fees_full"]})
    undone = queue.undo()
    assert undone["undone"]["codes"] == ["fees_full"] and undone["item"]["status"] == "pending"
    assert undone["counts"]["decided"] == 0 and undone["counts"]["cleared"] == 0
    assert FeedbackStore().count("codebook:employer-support") == 0
    assert queue.item(item.item_id).view()["method"] != "feedback"  # the memory forgot it too
    frame = queue.exported()
    assert (frame["support_method"] != "human").all()
    with pytest.raises(InvalidError, match="no decision left to undo"):
        queue.undo()


def test_uncodable_skip_and_bad_decisions(minilm: Encoder, tmp_path: Path) -> None:
    queue = open_queue(coded_file(tmp_path))
    gibberish = next(it for it in queue.items if it.text == "asdf qwer")
    queue.decide(gibberish.item_id, "uncodable", "tester")
    first = queue.next("rows")
    queue.decide(first.item_id, "skip", "tester")
    assert queue.next("rows").item_id != first.item_id  # a skipped answer waits behind the rest
    assert queue.ordered("rows")[-1].item_id == first.item_id
    with pytest.raises(InvalidError, match="not in codebook"):
        queue.decide(queue.next("rows").item_id, "choose", "tester", {"codes": ["no_such_code"]})
    with pytest.raises(NotFoundError, match="no item 99"):
        queue.item(99)
    row = queue.exported().iloc[5]
    assert (row["support_code"], row["support_method"], row["support_review"]) == ("", "human", "uncodable")


def test_search_finds_codes_by_name_or_code(minilm: Encoder, tmp_path: Path) -> None:
    queue = open_queue(coded_file(tmp_path))
    assert queue.search("study_time")[0]["codes"] == ["study_time"]
    assert "fees_part" in [o["codes"][0] for o in queue.search("part of the fees")[:3]]


def test_a_file_without_review_flags_is_named(minilm: Encoder, tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    pd.DataFrame({"support": ["a", "b"]}).to_csv(path, index=False)
    with pytest.raises(InvalidError, match="support_needs_review"):
        open_queue(path)
    with pytest.raises(InvalidError, match="exactly one of"):
        parse_source("employer-support", employers=True)


def test_export_is_written_whole_in_the_files_format(minilm: Encoder, tmp_path: Path) -> None:
    queue = open_queue(coded_file(tmp_path))
    queue.decide(queue.next("rows").item_id, "accept", "tester")
    written = queue.export(tmp_path / "out.parquet")
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert written["rows"] == len(frame) == len(ANSWERS) and written["reviewed_rows"] == 3
    assert not list(tmp_path.glob(".*.partial"))
    assert json.loads(frame.iloc[7]["support_evidence"]) == []  # untouched rows keep their evidence


def test_employer_review_picks_a_record_or_creates_one(minilm: Encoder, tmp_path: Path) -> None:
    from autocode.classifiers.employers.gazetteer import load_gazetteer
    from autocode.service.employer_engine import default_store, get_resolver, use_reference

    reference = load_gazetteer()
    use_reference(reference[reference["country"] == "SG"].reset_index(drop=True))
    try:
        rows = [{"employer": t, "employer_employer": "", "employer_country": "", "employer_confidence": 0.2,
                 "employer_needs_review": "True", "employer_evidence": "[]"}
                for t in ["dbs bank ltd singapore", "dbs bank ltd singapore", "Kopi Corner Pte Ltd"]]
        path = tmp_path / "employers.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        queue = ReviewSessions(reviewer="tester").open(path, "employer", parse_source(employers=True))
        dbs = queue.next("rows")
        assert dbs.text == "dbs bank ltd singapore" and len(dbs.rows) == 2
        option = next(o for o in dbs.view()["alternatives"] if "DBS" in o["name"])
        queue.decide(dbs.item_id, "choose", "tester", {"record_id": option["record_id"]})
        assert get_resolver(default_store()).resolve(["dbs bank ltd singapore"])[0].record_id == option["record_id"]
        kopi = queue.next("rows")
        made = queue.decide(kopi.item_id, "choose", "tester",
                            {"record": {"name": "Kopi Corner", "country": "SG", "isic_section": "I"}})
        record_id = int(made["decision"]["codes"][0])
        assert default_store().get(record_id)["name"] == "Kopi Corner"
        frame = queue.exported()
        assert frame["employer_employer"].tolist()[:2] == [option["name"]] * 2
        assert (frame.iloc[2]["employer_employer"], frame.iloc[2]["employer_country"]) == ("Kopi Corner", "SG")
        assert frame.iloc[2]["employer_isic_section"] == "I" and frame.iloc[2]["employer_method"] == "human"
        queue.undo()
        assert default_store().get(record_id) is None  # undoing the decision removes the record it created
    finally:
        use_reference(None)


def test_two_blind_reviewers_and_their_agreement(minilm: Encoder, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from autocode.service.cli import app

    path = coded_file(tmp_path)
    picks = {"alice": ["fees_full", "study_time", "other_support", "no_support", "fees_full"],
             "bob": ["fees_full", "study_time", "other_support", "no_support", "fees_part"]}
    for who, codes in picks.items():
        queue = ReviewSessions(reviewer=who).open(path, "support", {**parse_source("employer-support"), "owner": who})
        for item, code in zip(queue.ordered("rows"), codes, strict=True):
            queue.decide(item.item_id, "choose", who, {"codes": [code]})
        assert queue.counts()["decided"] == 5 and queue.counts()["cleared"] == 0  # nothing taught, nothing cleared
        queue.export(tmp_path / f"{who}.csv")
    assert FeedbackStore().count() == 0  # blind queues leave the shared model alone
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "alice.csv"), "-p", "support_code", "-g", "support_code",
                                      "--gold-file", str(tmp_path / "bob.csv"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert 0.5 < metrics["cohen_kappa"] < 1.0 and metrics["n"] == len(ANSWERS)
    short = tmp_path / "short.csv"
    pd.read_csv(tmp_path / "bob.csv").head(3).to_csv(short, index=False)
    bad = CliRunner().invoke(app, ["evaluate", str(tmp_path / "alice.csv"), "-p", "support_code", "-g", "support_code",
                                   "--gold-file", str(short)])
    assert bad.exit_code != 0 and "same rows" in bad.output


DRAFT = """id: draft-support
name: Draft codes
version: "1"
labels:
  - code: paid-fees
    name: paid fees
    examples: ["they paid my course fees in full"]
  - code: fees-paid
    name: fees covered
    examples: ["my employer covered the fees"]
  - code: time-off
    name: time off
    examples: ["time off for lectures"]
"""


def test_draft_codes_renamed_split_and_merged_from_the_queue(minilm: Encoder, tmp_path: Path) -> None:
    import yaml

    from autocode.classifiers.codebook import load_codebook

    draft = tmp_path / "draft.codebook.yaml"
    draft.write_text(DRAFT, encoding="utf-8")
    path = coded_file(tmp_path)
    sessions = ReviewSessions(reviewer="tester")
    queue = sessions.open(path, "support", parse_source(str(draft)))
    first = queue.next("rows")
    queue.decide(first.item_id, "choose", "tester", {"codes": ["paid-fees"]})

    sessions.edit_codes(queue.session_id, "merge", "paid-fees", into="fees-paid")
    book = load_codebook(draft)
    assert book.codes() == ["fees-paid", "time-off"] and book.version == "2"
    assert "they paid my course fees in full" in book.get("fees-paid").examples  # the merged code's examples move
    assert FeedbackStore().for_target("codebook:draft-support")[0]["codes"] == ["fees-paid"]
    assert queue.exported().iloc[0]["support_code"] == "fees-paid"  # the decision follows the merge

    sessions.edit_codes(queue.session_id, "rename", "fees-paid", name="Employer paid the fees")
    assert queue.exported().iloc[0]["support_label"] == "Employer paid the fees"
    listed = sessions.edit_codes(queue.session_id, "add", "nothing", name="No support")
    assert listed["editable"] and [c["code"] for c in listed["codes"]] == ["fees-paid", "time-off", "nothing"]
    gibberish = next(it for it in queue.items if it.text == "nothing at all")
    queue.decide(gibberish.item_id, "choose", "tester", {"codes": ["nothing"]})  # the new code is usable at once
    assert yaml.safe_load(draft.read_text(encoding="utf-8"))["labels"][-1]["code"] == "nothing"
    with pytest.raises(InvalidError, match="not in codebook"):
        sessions.edit_codes(queue.session_id, "merge", "no-such", into="nothing")

    builtin = sessions.open(path, "support", parse_source("employer-support"))
    assert not sessions.codes(builtin.session_id)["editable"]
    with pytest.raises(InvalidError, match="only a codebook given as a YAML"):
        sessions.edit_codes(builtin.session_id, "rename", "fees_full", name="x")
