"""Saving a VectorIndex to a folder and loading it back, with a manifest, a format version and checks.

Saved form
    A folder holding ``manifest.json`` (format and autocode version, model, dim, count, kind,
    metric, HNSW parameters, storage, created_at, file sizes), ``index.faiss`` and ``ids.npy``
    (row -> id, tombstones included). ``save`` writes a temporary sibling folder, fsyncs every file
    and the folder, then swaps it into place with one ``renameat2(RENAME_EXCHANGE)`` where Linux
    offers it (elsewhere: two renames, with a moment in which the path is absent), and fsyncs the
    parent (``durable.staged_folder``). ``load`` opens all three files through one directory handle
    before reading any, so a reader racing a save sees the old index or the new, never a mix.

This module and vector_index.py share the index's private fields (``_index``, ``_ids``, ``_lock``):
saving and loading are the only other code that sees inside a VectorIndex.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import faiss
import numpy as np

from autocode.embeddings.durable import autocode_version, parse_manifest, staged_folder, write_synced
from autocode.embeddings.index.factory import FAISS_TYPES, KINDS, STORAGES
from autocode.embeddings.index.ids import IdTable
from autocode.errors import InvalidError

if TYPE_CHECKING:
    from autocode.embeddings.index.vector_index import VectorIndex


class IndexMismatchError(InvalidError):
    """A saved index was built with another model or dimension than the caller expects."""


class IndexFormatError(InvalidError):
    """A saved index folder is incomplete, corrupt, or written in a newer format."""


FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
METRIC = "inner_product"
_LOAD_ATTEMPTS = 5


def save(index: VectorIndex, path: str | os.PathLike[str]) -> None:
    """Write `index` to folder `path` atomically: readers and crashes see the old or the new whole."""
    path = Path(path).absolute()
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"{path} exists and is not a folder; refusing to replace it with an index")
        if not (path / MANIFEST_FILE).is_file() and any(path.iterdir()):
            raise FileExistsError(
                f"{path} is a non-empty folder without {MANIFEST_FILE}, so not a saved index; "
                "refusing to replace it"
            )
    with index._lock:
        with staged_folder(path) as tmp:
            sizes = {
                INDEX_FILE: write_synced(
                    tmp / INDEX_FILE, lambda f: faiss.write_index(index._index, faiss.PyCallbackIOWriter(f.write))
                ),
                IDS_FILE: write_synced(tmp / IDS_FILE, lambda f: np.save(f, index._ids.row_ids, allow_pickle=False)),
            }
            manifest = _manifest(index, sizes)
            write_synced(tmp / MANIFEST_FILE, lambda f: f.write(json.dumps(manifest, indent=2).encode() + b"\n"))
        index.manifest_ = manifest


def load(
    cls: type[VectorIndex], path: str | os.PathLike[str], *, expect_model: str | None, expect_dim: int | None
) -> VectorIndex:
    """Read a saved index folder as a `cls`; IndexMismatchError if it was built with another model or dim."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved index at {path}")
    if not path.is_dir():
        raise IndexFormatError(f"{path} is not a folder; a saved index is a folder holding {MANIFEST_FILE}")
    # A save racing this load may swap the folder and delete the old one between our opening it
    # and opening its files; opening all of them again then finds the new one, whole.
    for attempt in range(_LOAD_ATTEMPTS):
        try:
            with _open_members(path) as (manifest_file, index_file, ids_file):
                manifest = _parse_manifest(path, manifest_file.read())
                _check_expected(path, manifest, expect_model, expect_dim)
                if index_file is None or ids_file is None:
                    missing = INDEX_FILE if index_file is None else IDS_FILE
                    raise FileNotFoundError(missing)
                return _from_files(cls, path, manifest, index_file, ids_file)
        except FileNotFoundError as exc:
            if attempt < _LOAD_ATTEMPTS - 1:
                time.sleep(0.005 * attempt)
                continue
            raise IndexFormatError(
                f"{path} is incomplete: {exc.filename or exc.args[0]} is missing; "
                "re-build the index or restore it from a copy"
            ) from None
    raise AssertionError("unreachable")


def _from_files(
    cls: type[VectorIndex], path: Path, manifest: dict[str, Any], index_file: IO[bytes], ids_file: IO[bytes]
) -> VectorIndex:
    for name, f in ((INDEX_FILE, index_file), (IDS_FILE, ids_file)):
        actual = os.fstat(f.fileno()).st_size
        if actual != manifest["files"][name]:
            raise IndexFormatError(
                f"{path / name} is {actual} bytes but the manifest says {manifest['files'][name]}: "
                "the folder is corrupt; re-build the index"
            )
    hnsw = manifest["hnsw"]
    obj = cls(
        manifest["model"],
        manifest["dim"],
        manifest["kind"],
        hnsw_m=hnsw["m"],
        ef_construction=hnsw["ef_construction"],
        ef_search=hnsw["ef_search"],
        storage=manifest["storage"],
    )
    # FAISS raises RuntimeError with its C++ message, the reader callback whatever the file object raises: any
    # failure here means the file is not an index, and the caller gets one IndexFormatError for all of them.
    try:
        index = faiss.read_index(faiss.PyCallbackIOReader(index_file.read))
    except Exception as exc:  # noqa: BLE001
        raise IndexFormatError(f"{path / INDEX_FILE} cannot be read by FAISS: {exc}") from None
    try:
        row_ids = np.load(ids_file, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, EOFError...: each is "not an ids file"
        raise IndexFormatError(f"{path / IDS_FILE} cannot be read: {exc}") from None
    problems = []
    if not isinstance(index, FAISS_TYPES[obj.kind]):
        problems.append(f"FAISS index is {type(index).__name__}, manifest says kind {obj.kind!r}")
    if index.d != obj.dim:
        problems.append(f"FAISS index has dimension {index.d}, manifest says {obj.dim}")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        problems.append("FAISS index does not use inner product")
    if row_ids.dtype != np.int64 or row_ids.ndim != 1 or row_ids.size != index.ntotal:
        problems.append(f"{IDS_FILE} holds {row_ids.shape} {row_ids.dtype}, expected {index.ntotal} int64 ids")
    if problems:
        raise IndexFormatError(f"{path} is inconsistent: " + "; ".join(problems))
    table = IdTable.from_row_ids(row_ids)
    keys = table.keys
    if keys.size > 1 and np.any(keys[1:] == keys[:-1]):
        raise IndexFormatError(f"{path / IDS_FILE} repeats an id: the folder is corrupt")
    if keys.size != manifest["count"]:
        raise IndexFormatError(f"{path} holds {keys.size} records but its manifest says {manifest['count']}")
    if obj.kind == "flat" and table.dead:
        raise IndexFormatError(f"{path / IDS_FILE} has removed rows, which a flat index never keeps")
    obj._index = index
    obj._ids = table
    obj.manifest_ = manifest
    return obj


def _manifest(index: VectorIndex, sizes: dict[str, int]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "autocode_version": autocode_version(),
        "model": index.model,
        "dim": index.dim,
        "count": len(index),
        "rows": index._ids.rows,
        "kind": index.kind,
        "metric": METRIC,
        "storage": index.storage,
        "hnsw": {"m": index.hnsw_m, "ef_construction": index.ef_construction, "ef_search": index.ef_search},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": sizes,
    }


def _parse_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    """The validated manifest, or IndexFormatError saying what is wrong with it."""
    manifest = parse_manifest(raw, path / MANIFEST_FILE, kind="index", max_version=FORMAT_VERSION, error=IndexFormatError)
    fields: dict[str, type] = {
        "model": str, "dim": int, "count": int, "kind": str, "metric": str, "hnsw": dict, "files": dict,
    }
    for name, typ in fields.items():
        if not isinstance(manifest.get(name), typ) or isinstance(manifest.get(name), bool):
            raise IndexFormatError(f"{path / MANIFEST_FILE}: field {name!r} is missing or not a {typ.__name__}")
    manifest.setdefault("storage", "float32")
    problems = []
    if manifest["kind"] not in KINDS:
        problems.append(f"unknown kind {manifest['kind']!r}")
    if manifest["metric"] != METRIC:
        problems.append(f"metric {manifest['metric']!r}, expected {METRIC!r}")
    if manifest["storage"] not in STORAGES:
        problems.append(f"unknown storage {manifest['storage']!r}")
    if not all(isinstance(manifest["hnsw"].get(key), int) for key in ("m", "ef_construction", "ef_search")):
        problems.append("hnsw must hold integers m, ef_construction, ef_search")
    if not all(isinstance(manifest["files"].get(name), int) for name in (INDEX_FILE, IDS_FILE)):
        problems.append(f"files must give the byte sizes of {INDEX_FILE} and {IDS_FILE}")
    if problems:
        raise IndexFormatError(f"{path / MANIFEST_FILE}: " + "; ".join(problems))
    return manifest


def _check_expected(path: Path, manifest: dict[str, Any], model: str | None, dim: int | None) -> None:
    wrong_model = model is not None and manifest["model"] != model
    wrong_dim = dim is not None and manifest["dim"] != dim
    if not (wrong_model or wrong_dim):
        return
    parts = []
    if model is not None:
        parts.append(f"model {model!r}")
    if dim is not None:
        parts.append(f"dim {dim}")
    expected = ", ".join(parts)
    raise IndexMismatchError(
        f"index at {path} was built with model {manifest['model']!r} (dim {manifest['dim']}), "
        f"but {expected} was expected: re-build the index with the current encoder"
    )


@contextlib.contextmanager
def _open_members(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes] | None, IO[bytes] | None]]:
    """Open manifest, index and ids through one handle on the folder, so all come from the same save."""
    use_dir_fd = os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")
    dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY) if use_dir_fd else None
    files: list[IO[bytes] | None] = []
    try:
        for name in (MANIFEST_FILE, INDEX_FILE, IDS_FILE):
            try:
                if dir_fd is not None:
                    files.append(os.fdopen(os.open(name, os.O_RDONLY, dir_fd=dir_fd), "rb"))
                else:
                    files.append(open(path / name, "rb"))  # noqa: SIM115 - closed in finally
            except FileNotFoundError:
                if name == MANIFEST_FILE:
                    raise FileNotFoundError(MANIFEST_FILE) from None
                # Reported after the manifest is checked, so a version or model mismatch is named first.
                files.append(None)
        manifest_file = files[0]
        assert manifest_file is not None
        yield manifest_file, files[1], files[2]
    finally:
        for f in files:
            if f is not None:
                f.close()
        if dir_fd is not None:
            os.close(dir_fd)
