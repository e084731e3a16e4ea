"""The gazetteer's name vectors shipped in the package, so a fresh home answers without encoding ~144k names.

Saved form (``data/employers/``)
    ``name_vectors.npz`` holds the vectors compressed by product quantisation (FAISS ``ProductQuantizer``,
    ``PQ_M`` sub-vectors of ``PQ_BITS`` bits: ``PQ_M`` bytes a vector instead of 1,536): ``codes`` (uint8
    [rows, PQ_M]), ``centroids`` (float32 [PQ_M, 256, dim / PQ_M]) and ``ids`` (int64 [rows], the name index
    ids, see records.vector_id). ``name_vectors.json`` is its manifest: encoder key and model, dimension,
    index format, the content hash of the reference frame the vectors were made from, row count, codec,
    dtype, and the byte size and sha256 of the .npz. Both files are written with durable.atomic_file.

Loading
    ``load_vectors`` checks the manifest against the caller's encoder, index format and reference content,
    then the .npz's size and sha256, and only then decodes it (vectors re-normalised to unit length) into a
    flat VectorIndex; anything else raises ShippedVectorsError naming what differs, and the engine builds
    the index by encoding as before. Decoded vectors are approximations: cosines to a query differ from the
    exact ones by about 0.01, which the resolver's candidate scores absorb (see the README's figures).

``python scripts/build_name_vectors.py`` regenerates both files after the gazetteer changes.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autocode.embeddings.durable import atomic_file, autocode_version, parse_manifest, write_text_atomic
from autocode.errors import InvalidError

if TYPE_CHECKING:
    from autocode.embeddings import Encoder, VectorIndex

__all__ = ["MANIFEST_FILE", "VECTORS_FILE", "ShippedVectorsError", "load_vectors", "save_vectors", "shipped_folder"]

FORMAT_VERSION = 1
KIND = "employer-name-vectors"
MANIFEST_FILE = "name_vectors.json"
VECTORS_FILE = "name_vectors.npz"
PQ_M = 128  # sub-vectors a vector (3 dimensions each for MiniLM's 384)
PQ_BITS = 8


class ShippedVectorsError(InvalidError):
    """The shipped name vectors cannot serve this encoder and reference: absent, stale or corrupt."""


def shipped_folder() -> Path:
    """The package's data/employers folder, where the shipped vectors live."""
    return Path(str(files("autocode.data") / "employers"))


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def save_vectors(index: VectorIndex, folder: Path, *, encoder_key: str, reference: str, index_format: str) -> dict[str, Any]:
    """Quantise every vector of `index` into `folder`'s .npz and write its manifest; returns the manifest."""
    import faiss

    ids = index.ids()
    vectors = index.reconstruct(ids)
    pq = faiss.ProductQuantizer(index.dim, PQ_M, PQ_BITS)
    pq.verbose = False
    # Training on a seeded sample keeps a rerun over the same names byte-identical and fast.
    sample = vectors[np.sort(np.random.default_rng(0).choice(len(vectors), min(len(vectors), 65_536), replace=False))]
    pq.train(np.ascontiguousarray(sample))
    codes = pq.compute_codes(np.ascontiguousarray(vectors))
    centroids = faiss.vector_to_array(pq.centroids).reshape(PQ_M, 1 << PQ_BITS, index.dim // PQ_M)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, codes=codes, centroids=centroids.astype(np.float32), ids=ids)
    path = folder / VECTORS_FILE
    with atomic_file(path, mode=0o644) as tmp:
        tmp.write_bytes(buffer.getvalue())
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "autocode_version": autocode_version(),
        "encoder": encoder_key,
        "model": index.model,
        "dim": index.dim,
        "index_format": index_format,
        "reference": reference,
        "rows": len(ids),
        "codec": {"name": "pq", "m": PQ_M, "nbits": PQ_BITS},
        "dtype": "uint8",
        "file": VECTORS_FILE,
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_text_atomic(folder / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n", mode=0o644)
    return manifest


def _checked_manifest(folder: Path, encoder: Encoder, reference: str, index_format: str) -> dict[str, Any]:
    where = folder / MANIFEST_FILE
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        raise ShippedVectorsError(f"no shipped name vectors ({where} is absent)") from None
    manifest = parse_manifest(raw, where, kind="name vectors", max_version=FORMAT_VERSION, error=ShippedVectorsError)
    expected = {
        "kind": KIND, "encoder": encoder.key, "model": encoder.name, "dim": encoder.dim,
        "index_format": index_format, "reference": reference, "dtype": "uint8", "file": VECTORS_FILE,
        "codec": {"name": "pq", "m": PQ_M, "nbits": PQ_BITS},
    }
    wrong = [f"{k} is {manifest.get(k)!r}, expected {v!r}" for k, v in expected.items() if manifest.get(k) != v]
    for name in ("rows", "bytes"):
        value = manifest.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            wrong.append(f"{name} is {value!r}, expected a count")
    if not isinstance(manifest.get("sha256"), str):
        wrong.append("sha256 is missing")
    if wrong:
        raise ShippedVectorsError(f"{where} does not fit this encoder and reference: " + "; ".join(wrong))
    return manifest


def load_vectors(encoder: Encoder, reference: str, index_format: str, folder: Path | None = None) -> VectorIndex:
    """The shipped vectors as a flat VectorIndex, or ShippedVectorsError saying why they cannot be used."""
    from autocode.embeddings import VectorIndex

    folder = folder or shipped_folder()
    manifest = _checked_manifest(folder, encoder, reference, index_format)
    path = folder / VECTORS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ShippedVectorsError(f"{path} is absent but {folder / MANIFEST_FILE} names it") from None
    if len(data) != manifest["bytes"] or hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise ShippedVectorsError(f"{path} does not match the size and sha256 in its manifest: the file is corrupt")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            codes, centroids, ids = npz["codes"], npz["centroids"], npz["ids"]
    except Exception as exc:  # noqa: BLE001 - zip, npy or key errors: each means "not our file"
        raise ShippedVectorsError(f"{path} cannot be read: {exc}") from None
    rows, dim = manifest["rows"], encoder.dim
    if (codes.shape != (rows, PQ_M) or codes.dtype != np.uint8 or ids.shape != (rows,) or ids.dtype != np.int64
            or centroids.shape != (PQ_M, 1 << PQ_BITS, dim // PQ_M)):
        raise ShippedVectorsError(f"{path} holds arrays of the wrong shape or type for {rows} rows of dimension {dim}")
    index = VectorIndex(encoder.name, dim, kind="flat")
    step = 16_384  # decoded in chunks: a float32 copy of every vector at once would double the peak memory
    for start in range(0, rows, step):
        chunk = codes[start : start + step]
        vectors = centroids[np.arange(PQ_M), chunk].reshape(len(chunk), dim)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        index.add(ids[start : start + step], vectors)
    return index
