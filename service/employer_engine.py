"""The process-wide EmployerResolver: the gazetteer's cached name index plus the user's records.

Encoding the gazetteer's names is the one expensive step, so its name index is saved once per home under
`AUTOCODE_HOME/indexes/employers-<encoder>-<content hash>/` and loaded on every later run. A fresh home
starts from the vectors the package ships (data/employers/name_vectors.npz, employer_vectors), checked
against its manifest; only where they do not fit (another encoder, a swapped reference, a changed
gazetteer, a corrupt file) are the names encoded, with a line saying why. The user's
records are never baked into that index: they are applied on top with `upsert_records`/`remove_records`,
so an edit costs only its own names. `sync` diffs what was applied against the store by content, which
also makes switching stores (one per test, one per home) a diff rather than a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console

from autocode.classifiers.employers.gazetteer import COLUMNS, LIST_COLUMNS, load_gazetteer
from autocode.service.employer_vectors import ShippedVectorsError, load_vectors, shipped_folder
from autocode.service.paths import autocode_home
from autocode.service.stores.records import USER_ID_BASE, RecordStore

if TYPE_CHECKING:
    from autocode.classifiers.employers.resolver import EmployerResolver
    from autocode.embeddings import Encoder

__all__ = ["ENCODER", "apply_change", "default_store", "engine_identity", "get_resolver", "index_dir", "sync", "use_reference"]

ENCODER = "minilm"
INDEX_FORMAT = "1"  # bump when what goes into the name index changes, so old cached indexes are not reused
BUILD_MESSAGE = "building the employer index (first run only)…"
log = logging.getLogger("autocode.employers")
# From this many records of the user's own (a business register imported with `records import`), they are held in a
# RecordRegister (column-wise, one compact vector each; classifiers/employers/register.py) instead of the resolver's
# per-record tables, which take ~4 KB a record: a million of them would not fit in 2 GB beside the gazetteer.
REGISTER_MIN = 20_000


def _shipped() -> pd.DataFrame:
    return load_gazetteer()


reference_records = _shipped  # what the resolver starts from: the whole gazetteer, unless use_reference() swaps it


def use_reference(frame: pd.DataFrame | None) -> None:
    """Resolve against `frame` (the gazetteer's columns) instead of the shipped gazetteer; None goes back to it."""
    global reference_records
    reference_records = _shipped if frame is None else (lambda: frame)


def shipped_vectors() -> Path:
    """The folder holding the shipped name vectors and their manifest (the package's data/employers)."""
    return shipped_folder()


def index_root() -> Path:
    """The folder holding cached name indexes."""
    return autocode_home() / "indexes"


@dataclass
class _Engine:
    resolver: EmployerResolver
    reference: pd.DataFrame
    reference_ids: frozenset[int]
    content: str
    store_key: tuple[str, int] | None = None  # (store path, version) last synced
    applied: dict[int, str] = field(default_factory=dict)  # user rows applied: id -> content digest
    hidden: set[int] = field(default_factory=set)  # reference ids removed from the resolver
    register_digest: str | None = None  # content digest of the user's records held in the attached register


_LOCK = threading.RLock()
_ENGINES: dict[tuple[str, str], _Engine] = {}
_REFERENCE: tuple[Any, pd.DataFrame, str] | None = None  # (the function that made it, frame, content hash)
_STORES: dict[Path, RecordStore] = {}


def _reference() -> tuple[pd.DataFrame, str]:
    # Hashing the whole gazetteer takes a few tenths of a second: once per process (per reference function).
    global _REFERENCE
    if _REFERENCE is None or _REFERENCE[0] is not reference_records:
        frame = reference_records()[list(COLUMNS)].reset_index(drop=True)
        digest = hashlib.sha256(frame.to_json(orient="split", force_ascii=False).encode()).hexdigest()[:16]
        _REFERENCE = (reference_records, frame, digest)
    return _REFERENCE[1], _REFERENCE[2]


def default_store() -> RecordStore:
    """The store at the default path of the current home, one connection per path per process."""
    from autocode.service.stores.records import default_store_path

    path = default_store_path()
    with _LOCK:
        if path not in _STORES:
            _STORES[path] = RecordStore(path)
        return _STORES[path]


def index_dir(encoder: Encoder, content: str) -> Path:
    """Where the name index for this encoder and reference content is cached."""
    return index_root() / f"employers-{encoder.key}-{hashlib.sha256(f'{content}:{INDEX_FORMAT}'.encode()).hexdigest()[:16]}"


def _build(encoder: Encoder, reference: pd.DataFrame, content: str) -> EmployerResolver:
    from autocode.classifiers.employers.resolver import EmployerResolver
    from autocode.embeddings import IndexFormatError, IndexMismatchError, VectorIndex

    path = index_dir(encoder, content)
    try:
        index = VectorIndex.load(path, expect_model=encoder.name, expect_dim=encoder.dim)
    except (FileNotFoundError, IndexFormatError, IndexMismatchError):
        index = None  # absent, damaged or from another model: build it again
    if index is not None:
        encoded = encoder.texts_encoded
        resolver = EmployerResolver(encoder, reference, name_index=index).fit()
        if encoder.texts_encoded != encoded:  # the resolver wanted names the cache lacked: keep them for next time
            resolver.name_index_.save(path)
        return resolver
    why = ""
    try:
        # A fresh home: the package ships the reference's vectors (quantised), so no name is encoded.
        shipped = load_vectors(encoder, content, INDEX_FORMAT, shipped_vectors())
    except ShippedVectorsError as exc:
        shipped, why = None, str(exc)
    if shipped is not None:
        resolver = EmployerResolver(encoder, reference, name_index=shipped).fit()
        resolver.name_index_.save(path)
        _drop_older(path, encoder)
        return resolver
    log.warning("shipped employer name vectors not used: %s", why)
    console = Console(stderr=True)
    message = f"{BUILD_MESSAGE} (shipped name vectors not used: {why})"
    if console.is_terminal:
        with console.status(message):
            resolver = EmployerResolver(encoder, reference).fit()
    else:
        console.print(message, highlight=False, markup=False)
        resolver = EmployerResolver(encoder, reference).fit()
    # Saved before any user record is applied: the cache holds the reference only and is shared by every store.
    resolver.name_index_.save(path)
    _drop_older(path, encoder)
    return resolver


def _drop_older(path: Path, encoder: Encoder) -> None:
    for old in path.parent.glob(f"employers-{encoder.key}-*"):
        if old != path and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)  # an index for an older gazetteer is a hundred MB nobody reads


def get_resolver(store: RecordStore | None = None, *, encoder: str = ENCODER) -> EmployerResolver:
    """The process-wide resolver over the reference plus `store`'s records, synced to the store's latest version."""
    from autocode.embeddings import get_encoder

    with _LOCK:
        reference, content = _reference()
        key = (encoder, content)
        if key not in _ENGINES:
            _ENGINES.clear()  # one reference per process: a swapped-in reference retires the old resolver
            enc = get_encoder(encoder)
            ids = frozenset(int(i) for i in reference["record_id"])
            _ENGINES[key] = _Engine(_build(enc, reference, content), reference, ids, content)
        engine = _ENGINES[key]
        _sync(engine, store or default_store())
        return engine.resolver


def sync(store: RecordStore | None = None) -> None:
    """Apply the store's latest records to the resolver, if one is loaded in this process."""
    with _LOCK:
        for engine in _ENGINES.values():
            _sync(engine, store or default_store())


apply_change = sync  # the name the CLI uses after an add, correction or removal


def engine_identity(store: RecordStore | None = None, *, encoder: str = ENCODER) -> str:
    """A string that changes whenever a lookup's answer could: encoder, reference content, store and version."""
    store = store or default_store()
    return f"employers:{encoder}:{_reference()[1]}:{store.path}@{store.version}"


def _digest(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([row[c] for c in COLUMNS], default=list).encode()).hexdigest()


def _sync(engine: _Engine, store: RecordStore) -> None:
    store_key = (str(store.path), store.version)
    if engine.store_key == store_key:
        return
    if _count(store.path, "record_id >= ?", USER_ID_BASE) >= REGISTER_MIN:
        _sync_register(engine, store)
        # Only corrections of reference records go through the per-record tables; the user's own are the register's.
        users = _frame(_rows(store.path, "record_id < ?", USER_ID_BASE))
    else:
        if getattr(engine.resolver, "register_", None) is not None:
            engine.resolver.attach_register(None)
            engine.register_digest = None
        users = store.overrides()[list(COLUMNS)]
    rows = {int(r["record_id"]): r for r in users.to_dict("records")}
    wanted = {i: _digest(r) for i, r in rows.items()}
    removed = store.removed_ids() & engine.reference_ids
    changed = [i for i, d in wanted.items() if engine.applied.get(i) != d]
    # Records applied before that are no longer wanted: a reference record comes back unless removed, others go.
    gone = set(engine.applied) - set(wanted)
    restore = {i for i in gone if i in engine.reference_ids and i not in removed}
    restore |= {i for i in engine.hidden - removed if i not in wanted}
    drop = (gone - restore) | (removed - engine.hidden - set(wanted))
    frames = []
    if changed:
        frames.append(users[users["record_id"].isin(changed)])
    if restore:
        frames.append(engine.reference[engine.reference["record_id"].isin(restore)])
    if frames:
        engine.resolver.upsert_records(pd.concat(frames, ignore_index=True))
    if drop:
        engine.resolver.remove_records(sorted(drop))
    engine.applied = wanted
    engine.hidden = removed - set(wanted)
    engine.store_key = store_key


def _connect(path: Path) -> sqlite3.Connection:
    # A read-only connection of our own: rows stream from it in id order without the store's lock or a full copy.
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    return db


def _count(path: Path, where: str, arg: int) -> int:
    db = _connect(path)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM records WHERE {where}", (arg,)).fetchone()[0])  # noqa: S608 - constant
    finally:
        db.close()


def _rows(path: Path, where: str, arg: int) -> Iterator[dict[str, Any]]:
    """The store's rows matching `where`, in record id order, as gazetteer-column dicts (list cells as tuples)."""
    db = _connect(path)
    try:
        cursor = db.execute(f"SELECT * FROM records WHERE {where} ORDER BY record_id", (arg,))  # noqa: S608 - constant
        while batch := cursor.fetchmany(10_000):
            for row in batch:
                out = {c: row[c] for c in COLUMNS if c != "source_id"}
                for c in LIST_COLUMNS:
                    out[c] = tuple(json.loads(out[c] or "[]"))
                out["source_id"] = ""
                yield out
    finally:
        db.close()


def _frame(rows: Iterator[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    frame["record_id"] = frame["record_id"].astype("int64")
    return frame


def register_digest(path: Path) -> str:
    """A digest of the user's own records in the store at `path` (ids and change times: cheap, and any edit moves it)."""
    digest = hashlib.sha256()
    db = _connect(path)
    try:
        cursor = db.execute("SELECT record_id, updated_at FROM records WHERE record_id >= ? ORDER BY record_id",
                            (USER_ID_BASE,))
        while batch := cursor.fetchmany(50_000):
            digest.update("\n".join(f"{r[0]}\x1f{r[1]}" for r in batch).encode())
    finally:
        db.close()
    return digest.hexdigest()


def register_dir(encoder: Encoder, digest: str) -> Path:
    """Where the register of the user's records with this digest is cached."""
    return index_root() / f"register-{encoder.key}-{hashlib.sha256(f'{digest}:{INDEX_FORMAT}'.encode()).hexdigest()[:16]}"


def _sync_register(engine: _Engine, store: RecordStore) -> None:
    """Attach the register of the store's own records: loaded from its cache, else built (reusing older vectors)."""
    from autocode.classifiers.employers.register import RecordRegister

    digest = register_digest(store.path)
    if engine.register_digest == digest:
        return
    encoder = engine.resolver.encoder
    path = register_dir(encoder, digest)
    register = None
    try:
        register = RecordRegister.load(path)
        if register.meta.get("model") != encoder.name:
            register = None
    except (FileNotFoundError, ValueError, OSError, RuntimeError):
        register = None  # absent or damaged: built again
    if register is None:
        register = build_register(encoder, store.path, reuse=engine.resolver.register_)
        register.save(path)
        for old in path.parent.glob(f"register-{encoder.key}-*"):
            if old != path and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)  # a register for older records is hundreds of MB nobody reads
    engine.resolver.attach_register(register)
    engine.register_digest = digest


def build_register(encoder: Encoder, path: Path, *, reuse: Any = None, spec: str | None = None,
                   quiet: bool = False) -> Any:
    """A RecordRegister of the user's own records in the store at `path`, encoded with `encoder` (a chunk at a time)."""
    from autocode.classifiers.employers.register import INDEX_SPEC, RecordRegister

    total = _count(path, "record_id >= ?", USER_ID_BASE)
    console = Console(stderr=True)
    started = time.perf_counter()

    def progress(done: int) -> None:
        if not quiet:
            console.print(f"building the index of your {total:,} records: {done:,} encoded, "
                          f"{time.perf_counter() - started:.0f}s", highlight=False, markup=False)

    def encode(texts: list[str]) -> Any:
        vectors = encoder.encode(texts)
        encoder.clear_cache()  # a million names would fill the encoder's text cache with vectors asked for once
        return vectors

    return RecordRegister.build(
        _rows(path, "record_id >= ?", USER_ID_BASE), encode, encoder.dim, total=total, spec=spec or INDEX_SPEC,
        meta={"encoder": encoder.key, "model": encoder.name}, chunk=50_000,
        reuse=reuse.vectors_by_id if reuse is not None else None, progress=progress,
    )


_BY_ID: tuple[int, dict[int, int]] | None = None  # (id of the reference frame, record id -> row)


def reference_record(record_id: int) -> dict[str, Any] | None:
    """The reference (gazetteer) row with this id, as a dict, or None."""
    global _BY_ID
    frame, _ = _reference()
    with _LOCK:
        if _BY_ID is None or _BY_ID[0] != id(frame):
            _BY_ID = (id(frame), {int(r): i for i, r in enumerate(frame["record_id"])})
        row = _BY_ID[1].get(int(record_id))
    return None if row is None else frame.iloc[row].to_dict()
