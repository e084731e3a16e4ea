"""The review page in headless Chromium on a real `autocode employers` output (test_review_page.py covers codes).

test_review_page.py drives the page on a hand-written employer file. This test drives it on what
`autocode employers` really writes: predicted sector, division and country even on rows sent to review, and a
resolved row that must stay as it is. `autocode employers` does not read AUTOCODE_EMPLOYER_REFERENCE, so the
file is coded in-process against the same small SG reference that the `autocode review` subprocess gets from it.
A record created on the page (country SG, section K) must reach the records store, and the export must carry it on
that answer's rows, with no division left over from the model's guess.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.service.conftest import code_employers, export_from_page, serve_review, stop

pytestmark = pytest.mark.slow
AUTOCODE = Path(sys.executable).with_name("autocode")
ANSWERS = ["Kopi Corner", "DBS Bank", "Kopi Corner", "Sunrise Tuition Centre", "Singapore Airlines"]


def decided_count(page: Any) -> int:
    found = re.search(r"(\d+) decided", page.locator("#counts").inner_text())
    return int(found.group(1)) if found else -1


def test_a_record_created_on_the_page_over_real_employer_output(chromium: Any, tmp_path: Path) -> None:
    from autocode.classifiers.employers.gazetteer import load_gazetteer
    from autocode.service.stores.records import RecordStore, default_store_path

    reference = load_gazetteer()
    reference = reference[reference["country"] == "SG"].reset_index(drop=True)
    reference.to_parquet(tmp_path / "reference.parquet")
    source, coded = tmp_path / "employers.csv", tmp_path / "coded.csv"
    pd.DataFrame({"respondent": range(len(ANSWERS)), "employer": ANSWERS}).to_csv(source, index=False)
    code_employers(source, coded, reference)
    original = pd.read_csv(coded, dtype=str, keep_default_na=False)
    kopi = original["employer"] == "Kopi Corner"
    assert (original.loc[kopi, "employer_needs_review"] == "True").all()

    env = {**os.environ, "AUTOCODE_HOME": os.environ["AUTOCODE_HOME"],
           "AUTOCODE_EMPLOYER_REFERENCE": str(tmp_path / "reference.parquet")}
    proc, url = serve_review([str(coded), "-c", "employer", "--employers"], env)
    try:
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.wait_for_selector("#item-text:not(:empty)")
        assert page.locator("#item-text").inner_text() == "Kopi Corner"  # two rows wrote it: first in the queue
        assert decided_count(page) == 0
        page.keyboard.press("n")
        page.wait_for_selector("#record-form:not([hidden])")
        assert page.locator("#record-name").input_value() == "Kopi Corner"  # the form starts from the answer
        page.locator("#record-name").fill("Kopi Corner Holdings Pte Ltd")
        page.locator("#record-country").fill("sg")  # the page upper-cases both
        page.locator("#record-section").fill("k")
        page.get_by_role("button", name="Create and decide").click()
        page.wait_for_function("() => document.querySelector('#item-text').innerText !== 'Kopi Corner'")
        page.wait_for_function("() => /\\b1 decided\\b/.test(document.querySelector('#counts').innerText)")
        assert "saved" in page.locator("#notice").inner_text()
        shot = tmp_path / "review_employers.png"
        page.screenshot(path=str(shot), full_page=True)  # the record form scrolled the page down
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        with RecordStore(default_store_path()) as store:
            records = store.list()
        assert [(r["name"], r["country"], r["isic_section"]) for r in records] == [
            ("Kopi Corner Holdings Pte Ltd", "SG", "K")]

        exported = export_from_page(page, tmp_path / "exported.csv")
    finally:
        stop(proc)

    frame = pd.read_csv(exported, dtype=str, keep_default_na=False)
    assert frame["respondent"].tolist() == original["respondent"].tolist()
    assert frame["employer"].tolist() == ANSWERS
    created = frame[kopi]
    assert (created["employer_employer"] == "Kopi Corner Holdings Pte Ltd").all()
    assert (created["employer_country"] == "SG").all() and (created["employer_isic_section"] == "K").all()
    assert (created["employer_isic_division"] == "").all(), created["employer_isic_division"].tolist()  # not F/42
    assert (created["employer_method"] == "human").all() and (created["employer_reviewer"] == "tester").all()
    assert (created["employer_needs_review"] == "False").all()
    for i in frame.index[~kopi]:  # every other row exactly as `autocode employers` wrote it
        for name in original.columns:
            assert frame.at[i, name] == original.at[i, name], (i, name)
        assert frame.at[i, "employer_reviewer"] == ""
