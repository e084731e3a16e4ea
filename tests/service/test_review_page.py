"""The review page in a real headless Chromium (Debian's package, driven by Playwright) against a real `autocode review`.

Decide five answers with the keyboard, undo one, reload (the decisions are still there), export, and check the
exported file row by row; then an employer file: create a record from the page and find it in the export.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.service.conftest import export_from_page, stop
from tests.service.conftest import serve_review as start_review

pytestmark = pytest.mark.slow
AUTOCODE = Path(sys.executable).with_name("autocode")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"


def counts(page: Any) -> dict[str, int]:
    """The numbers in the page's counts line."""
    text = page.locator("#counts").inner_text()
    return {"pending": int(re.search(r"(\d+) answers to review", text).group(1)),
            "decided": int(re.search(r"(\d+) decided", text).group(1)),
            "uncodable": int(re.search(r"(\d+) uncodable", text).group(1)),
            "skipped": int(re.search(r"(\d+) skipped", text).group(1))}


def wait_counts(page: Any, **want: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = counts(page)
        if all(got[k] == v for k, v in want.items()):
            return
        time.sleep(0.1)
    raise AssertionError(f"counts {counts(page)}, wanted {want}")


def current_text(page: Any) -> str:
    return page.locator("#item-text").inner_text()


def test_deciding_with_the_keyboard_survives_a_reload_and_exports(chromium: Any, tmp_path: Path) -> None:
    env = {**os.environ, "AUTOCODE_HOME": os.environ["AUTOCODE_HOME"]}
    coded = tmp_path / "coded.csv"
    run = subprocess.run([str(AUTOCODE), "code", str(SAMPLE), "--column", "support", "--codebook", "employer-support",
                          "-o", str(coded), "--show", "0"], env=env, capture_output=True, text=True, check=False, timeout=600)
    assert run.returncode == 0, run.stderr
    original = pd.read_csv(coded, dtype=str, keep_default_na=False)
    proc, url = start_review([str(coded), "-c", "support", "--codebook", "employer-support"], env)
    try:
        page = chromium.new_page()
        page.goto(url)
        page.wait_for_selector("#item-text:not(:empty)")
        start = counts(page)
        decided: dict[str, tuple[str, str]] = {}  # answer -> (how, code)

        def key(press: str, how: str, code: str | None = None) -> None:
            text = current_text(page)
            if code is None and press == "Enter":
                code = "|".join(page.locator("#options li.best").inner_text().split(" · ")[0].split("|"))
            page.keyboard.press(press)
            page.wait_for_function("t => document.querySelector('#item-text').innerText !== t", arg=text)
            decided[text] = (how, code or "")

        key("Enter", "accept")
        second = page.locator("#options li").nth(1).inner_text().split(" · ")[0]
        key("2", "choose", second)
        key("u", "uncodable", "")
        skipped = current_text(page)
        page.keyboard.press("s")
        page.wait_for_function("t => document.querySelector('#item-text').innerText !== t", arg=skipped)
        page.keyboard.press("/")
        page.locator("#search").fill("study")
        page.wait_for_selector("#search-results li")
        text = current_text(page)
        page.locator("#search").press("Enter")
        page.wait_for_function("t => document.querySelector('#item-text').innerText !== t", arg=text)
        decided[text] = ("choose", "study_time")
        wait_counts(page, decided=start["decided"] + 3, uncodable=1, skipped=1)

        undone = text
        page.keyboard.press("z")
        page.wait_for_function("t => document.querySelector('#item-text').innerText === t", arg=undone)
        del decided[undone]
        wait_counts(page, decided=start["decided"] + 2)
        page.screenshot(path=str(tmp_path / "review.png"))
        assert (tmp_path / "review.png").stat().st_size > 10_000
        if os.environ.get("AUTOCODE_REVIEW_SCREENSHOT"):
            page.screenshot(path=os.environ["AUTOCODE_REVIEW_SCREENSHOT"])

        page.reload()
        page.wait_for_selector("#item-text:not(:empty)")
        wait_counts(page, decided=start["decided"] + 2, uncodable=1, skipped=1)  # nothing lost by the reload

        exported = export_from_page(page, tmp_path / "exported.csv")
    finally:
        stop(proc)
    frame = pd.read_csv(exported, dtype=str, keep_default_na=False)
    assert frame["respondent_id"].tolist() == original["respondent_id"].tolist()
    for i, row in frame.iterrows():
        answer = row["support"]
        if answer in decided:
            how, code = decided[answer]
            assert (row["support_method"], row["support_reviewer"]) == ("human", "tester"), answer
            assert row["support_review"] == how and row["support_code"] == code, answer
            assert row["support_needs_review"] == "False"
        elif row["support_review"] == "cleared":
            assert row["support_method"].startswith("feedback") and row["support_needs_review"] == "False"
        else:  # untouched, the skipped and the undone answer included
            assert row["support_code"] == original.iloc[i]["support_code"], answer
            assert row["support_method"] == original.iloc[i]["support_method"] and row["support_reviewer"] == ""


def test_an_employer_record_created_on_the_page_is_exported(chromium: Any, tmp_path: Path) -> None:
    from autocode.classifiers.employers.gazetteer import load_gazetteer

    reference = load_gazetteer()
    reference[reference["country"] == "SG"].reset_index(drop=True).to_parquet(tmp_path / "reference.parquet")
    coded = tmp_path / "employers.csv"
    pd.DataFrame({"employer": ["Kopi Corner", "Kopi Corner", "Sunrise Tuition Centre"],
                  "employer_employer": "", "employer_country": "", "employer_confidence": 0.2,
                  "employer_needs_review": True, "employer_evidence": "[]"}).to_csv(coded, index=False)
    env = {**os.environ, "AUTOCODE_EMPLOYER_REFERENCE": str(tmp_path / "reference.parquet")}
    proc, url = start_review([str(coded), "-c", "employer", "--employers"], env)
    try:
        page = chromium.new_page()
        page.goto(url)
        page.wait_for_selector("#item-text:not(:empty)")
        assert current_text(page) == "Kopi Corner"  # two rows wrote it: first in the queue
        page.keyboard.press("n")
        page.locator("#record-name").fill("Kopi Corner Pte Ltd")
        page.locator("#record-country").fill("SG")
        page.locator("#record-section").fill("I")
        page.locator("#record-form button[type=submit]").click()
        page.wait_for_function("() => document.querySelector('#item-text').innerText === 'Sunrise Tuition Centre'")
        wait_counts(page, decided=1)
        exported = export_from_page(page, tmp_path / "exported.csv", lambda: page.keyboard.press("e"))
    finally:
        stop(proc)
    frame = pd.read_csv(exported, dtype=str, keep_default_na=False)
    kopi = frame[frame["employer"] == "Kopi Corner"]
    assert len(kopi) == 2 and (kopi["employer_employer"] == "Kopi Corner Pte Ltd").all()
    assert (kopi["employer_country"] == "SG").all() and (kopi["employer_isic_section"] == "I").all()
    assert (kopi["employer_method"] == "human").all() and (kopi["employer_reviewer"] == "tester").all()
    from autocode.service.stores.records import RecordStore, default_store_path

    with RecordStore(default_store_path()) as store:
        assert [r["name"] for r in store.list()] == ["Kopi Corner Pte Ltd"]  # it now lives in the records store
