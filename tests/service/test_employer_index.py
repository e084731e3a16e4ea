"""The shipped name vectors: a fresh home loads them instead of encoding, their manifest is checked, writes are atomic;
and answers written as a stored name reuse its vector instead of being encoded (real MiniLM, real FAISS).

The shipped files are made here, by the same save_vectors the release script runs, for a small subset of the
gazetteer (every record of Singapore), into a temporary folder the engine is pointed at: encoding the whole
gazetteer would take minutes. The committed files are checked against the whole gazetteer by their manifest alone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.classifiers.employers.resolver import EmployerResolver
from autocode.embeddings import Encoder, VectorIndex
from autocode.service import employer_engine
from autocode.service.employer_vectors import MANIFEST_FILE, VECTORS_FILE, ShippedVectorsError, load_vectors, save_vectors
from autocode.service.stores.records import RecordStore

pytestmark = pytest.mark.slow


def singapore() -> pd.DataFrame:
    """The test reference: every gazetteer record of Singapore."""
    g = load_gazetteer()
    return g[g["country"] == "SG"].reset_index(drop=True)


@pytest.fixture(scope="session")
def exact(minilm: Encoder) -> EmployerResolver:
    """The subset's resolver with its names encoded (today's path), built once."""
    return EmployerResolver(minilm, singapore()).fit()


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> str:
    """Swap the subset in as the engine's reference, as a new process would start; returns its content hash."""
    monkeypatch.setattr(employer_engine, "reference_records", singapore)
    monkeypatch.setattr(employer_engine, "_ENGINES", {})
    return employer_engine._reference()[1]


@pytest.fixture
def shipped(exact: EmployerResolver, reference: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The subset's vectors written as the package ships them, and the engine pointed at them."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    save_vectors(exact.name_index_, folder, encoder_key=employer_engine.ENCODER, reference=reference,
                 index_format=employer_engine.INDEX_FORMAT)
    monkeypatch.setattr(employer_engine, "shipped_vectors", lambda: folder)
    return folder


def _fresh_resolver(tmp_path: Path, minilm: Encoder) -> tuple[EmployerResolver, int]:
    """The engine's resolver in the current (fresh) home, and how many names it encoded to get it."""
    minilm.clear_cache()  # names encoded by other tests must not hide an encoding here
    before = minilm.texts_encoded
    with RecordStore(tmp_path / "records.sqlite3") as store:
        resolver = employer_engine.get_resolver(store)
    return resolver, minilm.texts_encoded - before


def test_a_fresh_home_loads_the_shipped_vectors_without_encoding(shipped: Path, tmp_path: Path, minilm: Encoder) -> None:
    resolver, encoded = _fresh_resolver(tmp_path, minilm)
    assert encoded == 0
    assert len(resolver.name_index_) == json.loads((shipped / MANIFEST_FILE).read_text())["rows"]
    # The home's cache is written (atomically, as a saved index) so later runs load it as before.
    cached = employer_engine.index_dir(minilm, employer_engine._reference()[1])
    assert VectorIndex.load(cached, expect_model=minilm.name).manifest_["count"] == len(resolver.name_index_)
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no staged folder left behind
    # Quantised vectors still find the record an answer names.
    assert resolver.resolve(["DBS Bank"])[0].employer.startswith("DBS")


def test_the_manifest_must_fit_the_encoder_and_the_reference(shipped: Path, minilm: Encoder) -> None:
    content = employer_engine._reference()[1]
    assert len(load_vectors(minilm, content, employer_engine.INDEX_FORMAT, shipped)) > 1_000
    with pytest.raises(ShippedVectorsError, match="reference is"):
        load_vectors(minilm, "0" * 16, employer_engine.INDEX_FORMAT, shipped)  # a changed gazetteer
    with pytest.raises(ShippedVectorsError, match="index_format is"):
        load_vectors(minilm, content, "another", shipped)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("encoder", "encoder is 'use-multilingual', expected 'minilm'"),
        ("rows", "holds arrays of the wrong shape"),
        ("json", "not valid JSON"),
        ("vectors", "does not match the size and sha256"),
    ],
)
def test_a_damaged_or_mismatched_manifest_falls_back_to_encoding_with_a_line_saying_why(
    shipped: Path, tmp_path: Path, minilm: Encoder, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
    damage: str, why: str,
) -> None:
    manifest_path = shipped / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    if damage == "encoder":
        manifest["encoder"] = "use-multilingual"
    elif damage == "rows":
        manifest["rows"] += 1
    if damage in ("encoder", "rows"):
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "json":
        manifest_path.write_text(manifest_path.read_text()[:-20])  # torn
    else:
        data = bytearray((shipped / VECTORS_FILE).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (shipped / VECTORS_FILE).write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="autocode.employers"):
        resolver, encoded = _fresh_resolver(tmp_path, minilm)
    assert encoded > 1_000 and len(resolver.name_index_) > 1_000  # every name encoded, as before shipping
    assert any("shipped employer name vectors not used" in r.getMessage() and why in r.getMessage() for r in caplog.records)
    assert "shipped name vectors not used" in capsys.readouterr().err


def test_writing_the_shipped_vectors_is_atomic_and_deterministic(exact: EmployerResolver, tmp_path: Path, minilm: Encoder) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    first = save_vectors(exact.name_index_, folder, encoder_key="minilm", reference="abc", index_format="1")
    data = (folder / VECTORS_FILE).read_bytes()
    second = save_vectors(exact.name_index_, folder, encoder_key="minilm", reference="abc", index_format="1")
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_FILE, VECTORS_FILE]  # no temporary file left
    assert (folder / VECTORS_FILE).read_bytes() == data and first["sha256"] == second["sha256"]
    # A write that fails leaves the files there before it whole: the manifest's place is taken by a folder here.
    blocked = tmp_path / "blocked"
    (blocked / MANIFEST_FILE).mkdir(parents=True)
    with pytest.raises(OSError):
        save_vectors(exact.name_index_, blocked, encoder_key="minilm", reference="abc", index_format="1")
    assert not [p for p in blocked.iterdir() if p.name.endswith(".partial")]
    # The shipped index keeps the exact nearest name among its nearest few (PQ trained on this small subset only).
    index = load_vectors(minilm, "abc", "1", folder)
    query = minilm.encode(["Singapore Airlines"])
    _, exact_ids = exact.name_index_.search(query, 5)
    _, shipped_ids = index.search(query, 5)
    assert exact_ids[0][0] in shipped_ids[0]


def test_the_committed_vectors_fit_the_shipped_gazetteer() -> None:
    manifest = json.loads((Path(employer_engine.shipped_vectors()) / MANIFEST_FILE).read_text())
    assert manifest["reference"] == employer_engine._reference()[1], "run scripts/build_name_vectors.py"
    assert manifest["encoder"] == employer_engine.ENCODER and manifest["index_format"] == employer_engine.INDEX_FORMAT


def test_an_answer_written_as_a_stored_name_is_decided_without_encoding_it(exact: EmployerResolver, minilm: Encoder) -> None:
    texts = ["DBS Bank", "Singapore Airlines", "Keppel Corporation"]
    stored = [t for t in texts if any(t == s for rk in exact.keys_.values() for s in rk.strings)]
    assert stored, "the subset holds none of these names as written"
    minilm.clear_cache()
    before = minilm.texts_encoded
    fast = exact.resolve(stored)
    assert minilm.texts_encoded == before  # nothing was encoded for them
    exact.stored_query_vectors = False  # today's path: every answer encoded
    try:
        minilm.clear_cache()
        slow = exact.resolve(stored)
    finally:
        exact.stored_query_vectors = True
    assert minilm.texts_encoded == before + len(stored)
    for a, b in zip(fast, slow, strict=True):
        da, db = dataclasses.asdict(a), dataclasses.asdict(b)
        assert da.pop("match_score") == pytest.approx(db.pop("match_score"), abs=1e-5)
        assert da.pop("confidence") == pytest.approx(db.pop("confidence"), abs=1e-5)
        fa, fb = da.pop("field_confidence"), db.pop("field_confidence")
        assert fa == pytest.approx(fb, abs=1e-5)
        assert da == db
