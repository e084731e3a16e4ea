"""VectorIndex: pure index logic (ids, search, filters, save/load, atomic saves) with real FAISS and
synthetic random unit vectors. Nothing here needs or tests the encoder's meaning."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

import autocode.embeddings.durable as durable
import autocode.embeddings.index.search as search_mod
from autocode.embeddings.index import FORMAT_VERSION, IndexFormatError, IndexMismatchError, VectorIndex

DIM = 32
KINDS = ["flat", "hnsw"]


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Random float32 unit vectors."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product with numpy."""
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def filled(kind: str = "flat", n: int = 300, seed: int = 0, **kw: object) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    """An index of n random vectors under non-contiguous ids."""
    vecs = unit_vectors(n, seed=seed)
    ids = np.arange(n, dtype=np.int64) * 7 + 1_000_000_000_000  # beyond 32 bits on purpose
    index = VectorIndex("test-model", DIM, kind, **kw)  # type: ignore[arg-type]
    index.add(ids, vecs)
    return index, ids, vecs


# ---------------------------------------------------------------------------- add and search


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_search_is_exact_brute_force(dtype: type) -> None:
    index, ids, vecs = filled("flat", n=500)
    queries = unit_vectors(20, seed=1)
    scores, found = index.search(queries.astype(dtype), k=10)
    want_scores, want_ids = brute_force(vecs, ids, queries, 10)
    assert scores.dtype == np.float32 and found.dtype == np.int64 and found.shape == (20, 10)
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0), "best first"


def test_single_query_vector_gives_one_row() -> None:
    index, ids, vecs = filled("flat", n=50)
    scores, found = index.search(vecs[3], k=1)
    assert found.shape == (1, 1) and found[0, 0] == ids[3]
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_float16_storage_is_close_to_exact() -> None:
    index, ids, vecs = filled("flat", n=400, storage="float16")
    queries = unit_vectors(10, seed=2)
    scores, found = index.search(queries, k=5)
    want_scores, want_ids = brute_force(vecs, ids, queries, 5)
    np.testing.assert_allclose(scores, want_scores, atol=2e-3)
    assert (found[:, 0] == want_ids[:, 0]).all()
    np.testing.assert_allclose(index.reconstruct(ids[:3]), vecs[:3], atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_fewer_items_than_k_pads_with_minus_one_and_minus_inf(kind: str) -> None:
    index = VectorIndex("test-model", DIM, kind)  # type: ignore[arg-type]
    empty_scores, empty_ids = index.search(unit_vectors(2), k=4)
    assert (empty_ids == -1).all() and np.isneginf(empty_scores).all()
    index.add([5, 9, 11], unit_vectors(3))
    scores, found = index.search(unit_vectors(2, seed=3), k=5)
    assert found.shape == (2, 5)
    assert sorted(found[0, :3].tolist()) == [5, 9, 11]
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert np.isfinite(scores[:, :3]).all()


@pytest.mark.parametrize("kind", KINDS)
def test_len_contains_ids(kind: str) -> None:
    index, ids, _ = filled(kind, n=20)
    assert len(index) == 20
    assert int(ids[4]) in index and np.int64(ids[4]) in index
    assert 4 not in index and "x" not in index
    np.testing.assert_array_equal(index.ids(), np.sort(ids))
    assert index.ids().dtype == np.int64


# ---------------------------------------------------------------------------- upsert and remove


@pytest.mark.parametrize("kind", KINDS)
def test_upsert_replaces_vector(kind: str) -> None:
    index, ids, vecs = filled(kind, n=200)
    target = int(ids[10])
    new = unit_vectors(1, seed=99)
    index.upsert([target, 42], np.vstack([new, unit_vectors(1, seed=100)]))  # one replace, one insert
    assert len(index) == 201 and 42 in index
    _, found = index.search(new, k=1)
    assert found[0, 0] == target
    scores, found = index.search(vecs[10], k=3)
    # The old vector no longer matches itself: the id is now found only at its new vector's score.
    assert found[0, 0] != target
    hits = found[0] == target
    if hits.any():
        assert scores[0][hits][0] == pytest.approx(float(new[0] @ vecs[10]), abs=1e-5)
    np.testing.assert_allclose(index.reconstruct([target]), new, atol=1e-6)
    _, all_ids = index.search(new, k=len(index) + 5)
    assert (all_ids[0] == target).sum() == 1, "an upserted id appears once, never with its stale vector"


@pytest.mark.parametrize("kind", KINDS)
def test_remove_removes_and_counts(kind: str) -> None:
    index, ids, vecs = filled(kind, n=200)
    gone = ids[[0, 5, 17]]
    assert index.remove(np.concatenate([gone, [123, 456], gone[:1]])) == 3  # unknown and repeated ids ignored
    assert len(index) == 197
    assert all(int(i) not in index for i in gone)
    _, found = index.search(vecs, k=len(index) + 10)
    assert not np.isin(found, gone).any()
    assert index.remove(gone) == 0
    # The survivors are still found by their own vectors, and reconstruct still maps ids to their vectors.
    keep = np.setdiff1d(np.arange(200), [0, 5, 17])
    _, top = index.search(vecs[keep], k=1)
    np.testing.assert_array_equal(top[:, 0], ids[keep])
    np.testing.assert_allclose(index.reconstruct(ids[keep]), vecs[keep], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_remove_then_add_again_same_id(kind: str) -> None:
    index, ids, _ = filled(kind, n=50)
    index.remove([ids[3]])
    new = unit_vectors(1, seed=7)
    index.add([ids[3]], new)
    _, found = index.search(new, k=1)
    assert found[0, 0] == ids[3]


def test_remove_everything_then_search() -> None:
    for kind in KINDS:
        index, ids, vecs = filled(kind, n=30)
        assert index.remove(ids) == 30
        assert len(index) == 0
        _, found = index.search(vecs[:2], k=3)
        assert (found == -1).all()


# ---------------------------------------------------------------------------- validation


def test_add_duplicate_id_raises_and_changes_nothing() -> None:
    index, ids, _ = filled("flat", n=10)
    with pytest.raises(ValueError, match=r"already in the index.*upsert"):
        index.add([ids[2], 77], unit_vectors(2, seed=5))
    assert len(index) == 10 and 77 not in index
    with pytest.raises(ValueError, match="repeat within one call"):
        index.add([1, 2, 1], unit_vectors(3))
    with pytest.raises(ValueError, match="repeat within one call"):
        index.upsert([1, 1], unit_vectors(2))
    assert len(index) == 10


def test_dimension_mismatch_names_both_dims() -> None:
    index = VectorIndex("test-model", DIM)
    with pytest.raises(ValueError, match=rf"dimension 16 but the index holds dimension {DIM}"):
        index.add([1], unit_vectors(1, dim=16))
    index.add([1], unit_vectors(1))
    with pytest.raises(ValueError, match=rf"dimension 64 but the index holds dimension {DIM}"):
        index.search(unit_vectors(1, dim=64))


def test_bad_input_is_refused() -> None:
    index = VectorIndex("test-model", DIM)
    bad = unit_vectors(2)
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite.*1"):
        index.add([1, 2], bad)
    with pytest.raises(ValueError, match="non-negative"):
        index.add([-1], unit_vectors(1))
    with pytest.raises(ValueError, match="integers"):
        index.add([1.5], unit_vectors(1))
    with pytest.raises(ValueError, match="2 ids but 3 vectors"):
        index.add([1, 2], unit_vectors(3))
    with pytest.raises(ValueError, match="k must be"):
        index.search(unit_vectors(1), k=0)
    with pytest.raises(ValueError, match="kind"):
        VectorIndex("test-model", DIM, "ivf")  # type: ignore[arg-type]
    assert len(index) == 0


def test_reconstruct_unknown_id_raises_key_error() -> None:
    index, ids, vecs = filled("hnsw", n=20)
    np.testing.assert_allclose(index.reconstruct(ids[[4, 2]]), vecs[[4, 2]], atol=1e-6)
    with pytest.raises(KeyError, match="not in the index"):
        index.reconstruct([ids[0], 5])


# ---------------------------------------------------------------------------- filtered search


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["subset", "selector"])
def test_filtered_search_returns_only_allowed(kind: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "selector":  # force the FAISS IDSelector route instead of exact scoring of the subset
        monkeypatch.setattr(search_mod, "EXACT_SUBSET_ROWS", 0)
        monkeypatch.setattr(search_mod, "EXACT_SUBSET_FRACTION", 0.0)
    index, ids, vecs = filled(kind, n=400)
    index.remove(ids[:40])  # tombstones in HNSW must stay excluded under a filter too
    allowed = ids[np.arange(400) % 3 == 0]
    queries = unit_vectors(15, seed=4)
    live_allowed = np.isin(ids, allowed) & ~np.isin(ids, ids[:40])
    want_scores, want_ids = brute_force(vecs[live_allowed], ids[live_allowed], queries, 5)
    allowed_set = set(allowed.tolist())
    for spec in (allowed, list(allowed), allowed_set, lambda i: i in allowed_set):
        scores, found = index.search_filtered(queries, 5, spec)
        assert np.isin(found, ids[live_allowed]).all()
        if kind == "flat" or path == "subset":
            np.testing.assert_array_equal(found, want_ids)
            np.testing.assert_allclose(scores, want_scores, atol=1e-5)
        else:
            assert (found[:, 0] == want_ids[:, 0]).mean() >= 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_filtered_search_with_few_or_no_allowed(kind: str) -> None:
    index, ids, vecs = filled(kind, n=100)
    scores, found = index.search_filtered(vecs[:1], 4, [ids[7], ids[9], 5])  # 5 is unknown: ignored
    assert sorted(found[0, :2].tolist()) == sorted([ids[7], ids[9]])
    assert (found[0, 2:] == -1).all() and np.isneginf(scores[0, 2:]).all()
    _, none = index.search_filtered(vecs[:1], 4, np.array([], dtype=np.int64))
    assert (none == -1).all()
    with pytest.raises(TypeError, match="boolean mask"):
        index.search_filtered(vecs[:1], 4, np.ones(100, dtype=bool))


# ---------------------------------------------------------------------------- save and load


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("storage", ["float32", "float16"])
def test_save_load_round_trip_identical(kind: str, storage: str, tmp_path: Path) -> None:
    index, ids, _ = filled(kind, n=300, storage=storage)
    index.remove(ids[:20])  # HNSW keeps these as tombstones across the save
    index.upsert(ids[30:35], unit_vectors(5, seed=8))
    queries = unit_vectors(25, seed=6)
    before = index.search(queries, k=10)
    filtered_before = index.search_filtered(queries, 10, ids[::2])
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx", expect_model="test-model", expect_dim=DIM)
    after = loaded.search(queries, k=10)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(loaded.search_filtered(queries, 10, ids[::2])[1], filtered_before[1])
    assert (loaded.model, loaded.dim, loaded.kind, loaded.storage) == ("test-model", DIM, kind, storage)
    assert len(loaded) == 280
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    assert loaded.tombstones == index.tombstones
    # The loaded index keeps working: writes after load behave like writes before save.
    loaded.upsert([ids[100]], unit_vectors(1, seed=9))
    assert loaded.remove([ids[101]]) == 1


def test_manifest_describes_the_index(tmp_path: Path) -> None:
    index, _, _ = filled("hnsw", n=10, hnsw_m=16, ef_construction=40, ef_search=32)
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["autocode_version"]
    assert (manifest["model"], manifest["dim"], manifest["count"], manifest["kind"]) == ("test-model", DIM, 10, "hnsw")
    assert manifest["metric"] == "inner_product"
    assert manifest["hnsw"] == {"m": 16, "ef_construction": 40, "ef_search": 32}
    assert manifest["created_at"].endswith("+00:00")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["ids.npy", "index.faiss", "manifest.json"]
    assert index.manifest_ == manifest
    loaded = VectorIndex.load(tmp_path / "idx")
    assert (loaded.hnsw_m, loaded.ef_construction, loaded.ef_search) == (16, 40, 32)


@pytest.mark.parametrize(
    "expect, found_words",
    [
        ({"expect_model": "other-model"}, ["other-model", "test-model"]),
        ({"expect_dim": 512}, ["512", str(DIM)]),
        ({"expect_model": "other-model", "expect_dim": 512}, ["other-model", "test-model", "512", str(DIM)]),
    ],
)
def test_load_with_other_model_or_dim_is_refused(expect: dict, found_words: list[str], tmp_path: Path) -> None:
    index, _, _ = filled("flat", n=5)
    index.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError) as err:
        VectorIndex.load(tmp_path / "idx", **expect)
    message = str(err.value)
    assert str(tmp_path / "idx") in message
    assert all(word in message for word in found_words)


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    index, _, _ = filled("flat", n=5)
    index.save(tmp_path / "idx")
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=rf"format {FORMAT_VERSION + 1}.*upgrade autocode"):
        VectorIndex.load(tmp_path / "idx")


def test_corrupt_or_incomplete_folders_are_refused(tmp_path: Path) -> None:
    index, _, _ = filled("flat", n=5)
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFormatError, match=r"manifest\.json is missing"):
        VectorIndex.load(tmp_path / "empty")
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        VectorIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "index.faiss").unlink()
    with pytest.raises(IndexFormatError, match=r"index\.faiss is missing"):
        VectorIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx")
    data = (tmp_path / "idx" / "index.faiss").read_bytes()
    (tmp_path / "idx" / "index.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError, match="bytes but the manifest says"):
        VectorIndex.load(tmp_path / "idx")


def test_save_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path: Path) -> None:
    index, _, _ = filled("flat", n=5)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a saved index"):
        index.save(tmp_path / "docs")
    assert (tmp_path / "docs" / "notes.txt").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    index.save(tmp_path / "empty")  # an empty folder is fine to fill
    assert len(VectorIndex.load(tmp_path / "empty")) == 5


# ---------------------------------------------------------------------------- atomic saves


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


_real_write_index = faiss.write_index


def _write_then_crash(index: faiss.Index, writer: faiss.PyCallbackIOWriter) -> None:
    _real_write_index(index, writer)  # the new index file is complete on disk, the rest is not
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("crash_at", ["index_write", "ids_write", "swap"])
@pytest.mark.parametrize("hard", [False, True])
def test_crash_mid_save_leaves_previous_index_intact(
    crash_at: str, hard: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, old_ids, _ = filled("flat", n=50, seed=0)
    old.save(tmp_path / "idx")
    queries = unit_vectors(5, seed=11)
    want = old.search(queries, k=5)
    new, _, _ = filled("flat", n=80, seed=1)
    if crash_at == "index_write":
        monkeypatch.setattr(faiss, "write_index", _write_then_crash)
    elif crash_at == "ids_write":
        monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full (simulated)")))
    else:
        monkeypatch.setattr(durable, "swap_folder_into_place", lambda *a: (_ for _ in ()).throw(OSError("power cut")))
    if hard:  # a killed process runs no clean-up: the temp folder stays behind
        monkeypatch.setattr(durable.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(OSError):
        new.save(tmp_path / "idx")
    monkeypatch.undo()
    loaded = VectorIndex.load(tmp_path / "idx")
    np.testing.assert_array_equal(loaded.ids(), np.sort(old_ids))
    got = loaded.search(queries, k=5)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    leftovers = [name for name in _siblings(tmp_path) if name != "idx"]
    assert leftovers == [] if not hard else all(name.startswith(".idx.tmp-") for name in leftovers)
    new.save(tmp_path / "idx")  # and the next save goes through
    assert len(VectorIndex.load(tmp_path / "idx")) == 80


@pytest.mark.parametrize("exchange", ["renameat2", "two_renames"])
def test_successful_saves_replace_whole_and_leave_no_temp(
    exchange: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if exchange == "two_renames":
        monkeypatch.setattr("autocode.embeddings.durable._exchange", lambda a, b: False)
    for n in (10, 40, 25):
        index, ids, _ = filled("hnsw", n=n, seed=n)
        index.save(tmp_path / "idx")
        assert _siblings(tmp_path) == ["idx"]
        np.testing.assert_array_equal(VectorIndex.load(tmp_path / "idx").ids(), np.sort(ids))


def test_renameat2_exchange_swaps_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("b")
    if not durable._exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("renameat2(RENAME_EXCHANGE) not available on this kernel or filesystem")
    assert (tmp_path / "a" / "f").read_text() == "b" and (tmp_path / "b" / "f").read_text() == "a"


def test_reader_racing_saves_sees_one_whole_version(tmp_path: Path) -> None:
    versions = {}
    for n in (20, 35):
        index, ids, _ = filled("flat", n=n, seed=n)
        versions[n] = (index, np.sort(ids))
    versions[20][0].save(tmp_path / "idx")
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(40):
                versions[(20, 35)[i % 2]][0].save(tmp_path / "idx")
        except BaseException as exc:  # noqa: BLE001  # pragma: no cover - a thread's exception is lost unless kept: asserted below
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    loads = 0
    while not stop.is_set() or loads == 0:
        loaded = VectorIndex.load(tmp_path / "idx")
        want = versions[len(loaded)][1]
        np.testing.assert_array_equal(loaded.ids(), want)
        assert loaded.manifest_ is not None and loaded.manifest_["count"] == len(loaded)
        loads += 1
    thread.join()
    assert not errors, errors
    assert _siblings(tmp_path) == ["idx"]


# ---------------------------------------------------------------------------- threads


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_search_and_writes(kind: str) -> None:
    index, ids, vecs = filled(kind, n=500)
    removed = ids[::5]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for chunk in np.array_split(removed, 20):
                index.remove(chunk)
                index.upsert(chunk[:1] + 10_000_000, unit_vectors(1, seed=int(chunk[0]) % 1000))
        except BaseException as exc:  # noqa: BLE001  # pragma: no cover - a thread's exception is lost unless kept: asserted below
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    for _ in range(50):
        index.search(vecs[:8], k=10)
    thread.join()
    assert not errors, errors
    _, found = index.search(vecs, k=20)
    assert not np.isin(found, removed).any()
