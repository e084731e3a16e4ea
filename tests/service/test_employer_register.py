"""A business register imported by a user, held as a RecordRegister: the benchmark's own path at a tiny size.

2,000 generated records (benchmarks.register: real name parts from data/) are imported with `autocode records
import`, the engine builds their register on the first get_resolver (real MiniLM, real FAISS IVF-PQ) and informal
variants of them are resolved to the right record. The reference is a few hundred gazetteer records (30 of each sector), so no test
waits for the whole gazetteer's index; a later process loads the saved register without encoding, and an edit
re-encodes only the name it changed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.service import employer_engine
from autocode.service.cli import app
from autocode.service.stores.records import USER_ID_BASE, RecordStore
from benchmarks.register import generate, queries

pytestmark = pytest.mark.slow
N = 2_000


def small_reference() -> pd.DataFrame:
    """The test reference: 30 gazetteer records of each ISIC section (a few hundred, encoded in seconds)."""
    g = load_gazetteer()
    return g[g["isic_section"] != ""].groupby("isic_section").head(30).reset_index(drop=True)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The engine over the small reference, registers from 1,000 records, no shipped vectors; the store's path."""
    monkeypatch.setattr(employer_engine, "reference_records", small_reference)
    monkeypatch.setattr(employer_engine, "_ENGINES", {})
    monkeypatch.setattr(employer_engine, "shipped_vectors", lambda: tmp_path / "none")
    monkeypatch.setattr(employer_engine, "REGISTER_MIN", 1_000)
    return employer_engine.default_store().path


def test_an_imported_register_is_found_by_informal_names(engine: Path, tmp_path: Path) -> None:
    rows = generate(tmp_path / "register.csv", N)
    result = CliRunner().invoke(app, ["records", "import", str(tmp_path / "register.csv")])
    assert result.exit_code == 0, result.output
    assert f"added {N}" in result.output
    store = RecordStore(engine)
    resolver = employer_engine.get_resolver(store)
    register = resolver.register_
    assert register is not None and len(register) == N
    assert register.name(USER_ID_BASE + 7) == rows[7]["name"]  # ids follow the file's order in a fresh store
    names = [r["name"] for r in rows]
    qs = queries(names, 60, 0)
    results = resolver.resolve([text for text, _, _ in qs])
    right = {rule: [] for _, rule, _ in qs}
    for (_, rule, pos), r in zip(qs, results, strict=True):
        right[rule].append(r.record_id == USER_ID_BASE + pos)
    assert all(right["lower"]), right
    assert sum(map(sum, right.values())) >= 0.8 * len(qs), {k: sum(v) / len(v) for k, v in right.items()}
    matched = next(r for r, (_, rule, _) in zip(results, qs, strict=True) if rule == "lower")
    assert matched.kind == "match" and matched.isic_division  # the record's sector and country come with it

    # A later process loads the saved register: no name is encoded.
    employer_engine._ENGINES.clear()
    encoded = resolver.encoder.texts_encoded
    again = employer_engine.get_resolver(store)
    assert again is not resolver and again.register_ is not None and len(again.register_) == N
    assert resolver.encoder.texts_encoded == encoded

    # A correction rebuilds the register, encoding only the changed name; the new name is found, the old one not.
    before = resolver.encoder.texts_encoded
    result = CliRunner().invoke(app, ["records", "add", "--id", str(USER_ID_BASE + 3), "--name", "Zyqqor Widgets Pte Ltd"])
    assert result.exit_code == 0, result.output
    fixed = employer_engine.get_resolver(store)
    assert resolver.encoder.texts_encoded - before <= 2  # the new name (and nothing else of the 2,000)
    assert fixed.resolve(["zyqqor widgets"])[0].record_id == USER_ID_BASE + 3
    assert fixed.register_ is not None and fixed.register_.name(USER_ID_BASE + 3) == "Zyqqor Widgets Pte Ltd"
