"""A trained Cascade as a folder that describes itself: save atomically, load with checks.

Layout of MODEL_DIR
    model.json      manifest: format_version, autocode_version, created_at, encoder (key, name, dim),
                    codebook (id, version, file), settings, calibration, component parameters, metrics
    codebook.json   the codebook the model codes into, whole
    components/*.json  each method's parameters (alias table, n-gram vocabulary, classes, k, C ...)
    arrays/*.npy    coefficients, idf, label matrices (numpy format, no pickles)
    knn/            the kNN memory: a VectorIndex folder (its own manifest)
    knn_texts.json  the training texts behind the kNN rows (the evidence shown with predictions)

A later autocode reads this format as long as format_version is not newer than it knows; keys it
does not know in model.json are ignored, so newer writers can add information freely.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from autocode.classifiers.calibration import Calibrator
from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import parse_codebook
from autocode.classifiers.methods import blend_methods
from autocode.classifiers.methods.alias import AliasClassifier
from autocode.classifiers.methods.knn import KNNClassifier
from autocode.classifiers.methods.zeroshot import ZeroShotClassifier
from autocode.classifiers.novelty import NoveltyChoice
from autocode.embeddings import ENCODERS, Encoder, VectorIndex, get_encoder
from autocode.embeddings.durable import autocode_version, parse_manifest, staged_folder, write_synced
from autocode.errors import AutocodeError, InvalidError

FORMAT_VERSION = 1
MANIFEST = "model.json"
CODEBOOK_FILE = "codebook.json"
ARRAYS_DIR = "arrays"
COMPONENTS_DIR = "components"
KNN_DIR = "knn"
KNN_TEXTS = "knn_texts.json"


class ModelFormatError(InvalidError):
    """A model folder that is missing, incomplete, or written in a newer format."""

    code = "invalid_model"


class ModelMismatchError(InvalidError):
    """A model trained with another encoder (name or dimension) than the one offered."""

    code = "model_mismatch"




# ---------------------------------------------------------------------- save


def save_model(cascade: Cascade, path: str | os.PathLike[str]) -> Path:
    """Write a fitted Cascade to folder `path` atomically (temp folder, fsync, rename); returns the path."""
    if not hasattr(cascade, "metrics_"):
        raise ValueError("the cascade is not fitted: call fit() before save_model()")
    path = Path(path).absolute()
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not (path / MANIFEST).is_file())):
        raise FileExistsError(f"{path} exists and is not a model folder; refusing to replace it")
    with staged_folder(path) as tmp:
        manifest, arrays = _manifest(cascade)
        (tmp / ARRAYS_DIR).mkdir()
        files: dict[str, int] = {}
        for name, array in arrays.items():
            rel = f"{ARRAYS_DIR}/{name}.npy"
            files[rel] = _write_array(tmp / rel, array)
        codebook = cascade.codebook.model_dump(mode="json")
        files[CODEBOOK_FILE] = _write_json(tmp / CODEBOOK_FILE, codebook)
        if cascade.knn_ is not None:
            cascade.knn_.index_.save(tmp / KNN_DIR)
            files[KNN_TEXTS] = _write_json(tmp / KNN_TEXTS, cascade.knn_.texts_)
        (tmp / COMPONENTS_DIR).mkdir()
        for name, params in manifest["components"].items():
            # Kept out of model.json (an alias table or vocabulary can be large), so the manifest stays readable.
            rel = f"{COMPONENTS_DIR}/{name}.json"
            files[rel] = _write_json(tmp / rel, params)
            manifest["components"][name] = {"file": rel}
        manifest["files"] = files
        _write_json(tmp / MANIFEST, manifest)
    return path


def _manifest(cascade: Cascade) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """model.json contents and the arrays to store beside it."""
    arrays: dict[str, np.ndarray] = {}
    components: dict[str, Any] = {}
    if cascade.alias_ is not None:
        components["alias"], _ = cascade.alias_.get_state()
    if cascade.knn_ is not None:
        components["knn"], knn_arrays = cascade.knn_.get_state()
        arrays.update({f"knn.{k}": v for k, v in knn_arrays.items()})
    for name, component in cascade.components_.items():
        components[name], part = component.get_state()
        arrays.update({f"{name}.{k}": v for k, v in part.items()})
    if cascade.zero_shot_ is not None:
        components["zero-shot"] = {
            "temperature": cascade.zero_shot_.temperature,
            "review_threshold": cascade.zero_shot_.review_threshold,
            "multi_label_ratio": cascade.zero_shot_.multi_label_ratio,
        }
    levels = []
    for i, level in enumerate(cascade.levels_):
        arrays[f"level{i}.member"] = level["member"].astype(np.int64)
        levels.append({"depth": level["depth"], "codes": level["codes"], "threshold": level["threshold"],
                       "calibrator": level["calibrator"].to_dict()})
    manifest = {
        "format_version": FORMAT_VERSION,
        "autocode_version": autocode_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "encoder": {"key": cascade.encoder.key, "name": cascade.encoder.name, "dim": cascade.encoder.dim},
        "codebook": {"id": cascade.codebook.id, "version": cascade.codebook.version, "name": cascade.codebook.name, "file": CODEBOOK_FILE},
        "settings": {
            "target_accuracy": cascade.target_accuracy,
            "methods": list(cascade.methods),
            "multi_label": cascade.multi_label,
            "n_splits": cascade.n_splits,
            "k_grid": list(cascade.k_grid),
            "temperature_grid": list(cascade.temperature_grid),
            "c_grid": list(cascade.c_grid),
            "lexical_c": cascade.lexical_c,
            "label_rows": cascade.label_rows,
            "weight_step": cascade.weight_step,
            "zero_shot_threshold": cascade.zero_shot_threshold,
            "random_state": cascade.random_state,
            "clauses": cascade.clauses,
        },
        "classes": list(cascade.classes_),
        "weights": cascade.weights_,
        "calibration": {
            "calibrator": cascade.calibrator_.to_dict(),
            "threshold": cascade.threshold_,
            "label_threshold": cascade.label_threshold_,
            "max_codes": cascade.max_codes_,
            "ood_floor": cascade.ood_floor_,
            # How the floor was set on held-out labels, with the share of their answers it sends to review.
            "novelty": cascade.novelty_,
            "levels": levels,
        },
        "components": components,
        "metrics": cascade.metrics_,
    }
    return manifest, arrays


# ---------------------------------------------------------------------- load


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked model.json of a model folder (format version and required keys)."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFormatError(f"no model folder at {path}")
    try:
        raw = (path / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"{path} is not a model folder: it has no {MANIFEST}") from None
    manifest = parse_manifest(raw, path / MANIFEST, kind="model", max_version=FORMAT_VERSION, error=ModelFormatError)
    missing = [key for key in ("encoder", "codebook", "settings", "classes", "weights", "calibration", "components") if key not in manifest]
    if missing:
        raise ModelFormatError(f"{path / MANIFEST} lacks {', '.join(missing)}; the model folder is corrupt")
    return manifest


def load_model(path: str | os.PathLike[str], encoder: Encoder | None = None) -> Cascade:
    """Read a model folder into a ready Cascade; refuses a newer format or a different encoder."""
    path = Path(path)
    manifest = read_manifest(path)
    stamped = manifest["encoder"]
    if encoder is None:
        if stamped.get("key") not in ENCODERS:
            raise ModelMismatchError(
                f"model at {path} was trained with encoder {stamped.get('name')!r} (key {stamped.get('key')!r}), "
                f"which this autocode does not ship (it has: {', '.join(sorted(ENCODERS))})"
            )
        encoder = get_encoder(stamped["key"])
    if stamped.get("name") != encoder.name or stamped.get("dim") != encoder.dim:
        raise ModelMismatchError(
            f"model at {path} was trained with encoder {stamped.get('name')!r} (dim {stamped.get('dim')}), "
            f"but the encoder offered is {encoder.name!r} (dim {encoder.dim}): retrain the model with this encoder"
        )
    try:
        codebook = parse_codebook(json.loads((path / CODEBOOK_FILE).read_text(encoding="utf-8")), str(path / CODEBOOK_FILE))
        return _rebuild(path, manifest, encoder, codebook)
    except FileNotFoundError as exc:
        raise ModelFormatError(f"{path} is incomplete: {exc.filename} is missing; retrain or restore the model") from None
    except AutocodeError:
        raise  # already says what is wrong and where (a bad kNN index, a codebook that does not parse)
    except ValueError as exc:
        # A truncated array or garbled JSON beside a good model.json: numpy and json say what, not which folder.
        raise ModelFormatError(f"{path} is corrupt ({type(exc).__name__}: {exc}); retrain or restore the model") from None


def _rebuild(path: Path, manifest: dict[str, Any], encoder: Encoder, codebook: Any) -> Cascade:
    settings = manifest["settings"]
    known = {
        "target_accuracy", "methods", "multi_label", "n_splits", "k_grid", "temperature_grid", "c_grid",
        "lexical_c", "label_rows", "weight_step", "zero_shot_threshold", "random_state", "clauses",
    }
    cascade = Cascade(encoder, codebook, **{k: v for k, v in settings.items() if k in known})
    components = {name: json.loads((path / ref["file"]).read_text(encoding="utf-8")) for name, ref in manifest["components"].items()}

    def arrays(prefix: str) -> dict[str, np.ndarray]:
        out = {}
        for rel in manifest.get("files", {}):
            name = Path(rel).name
            if rel.startswith(f"{ARRAYS_DIR}/") and name.startswith(f"{prefix}."):
                out[name[len(prefix) + 1 : -len(".npy")]] = np.load(path / rel, allow_pickle=False)
        return out

    cascade.classes_ = list(manifest["classes"])
    cascade.weights_ = {k: float(v) for k, v in manifest["weights"].items()}
    calibration = manifest["calibration"]
    cascade.calibrator_ = Calibrator.from_dict(calibration["calibrator"])
    cascade.threshold_ = float(calibration["threshold"])
    cascade.label_threshold_ = float(calibration.get("label_threshold", 0.5))
    cascade.max_codes_ = calibration.get("max_codes")  # absent in folders saved before the cap: no cap
    # ood_floor is the floor predict applies: a folder saved before held-out labels set it has the per-row floor
    # there and no "novelty", and keeps coding as it did.
    cascade.ood_floor_ = float(calibration.get("ood_floor", -1.0))
    novelty = calibration.get("novelty")
    cascade.novelty_ = cast(NoveltyChoice, dict(novelty)) if isinstance(novelty, dict) else None
    cascade.levels_ = [
        {
            "depth": level["depth"],
            "codes": list(level["codes"]),
            "member": np.load(path / ARRAYS_DIR / f"level{i}.member.npy", allow_pickle=False),
            "calibrator": Calibrator.from_dict(level["calibrator"]),
            "threshold": float(level["threshold"]),
        }
        for i, level in enumerate(calibration.get("levels", []))
    ]
    cascade.metrics_ = dict(manifest.get("metrics", {}))
    cascade.alias_ = AliasClassifier.from_state(codebook, components["alias"], {}) if "alias" in components else None
    cascade.components_ = {}
    cascade.knn_ = None
    if "knn" in components:
        index = VectorIndex.load(path / KNN_DIR, expect_model=encoder.name, expect_dim=encoder.dim)
        texts = json.loads((path / KNN_TEXTS).read_text(encoding="utf-8"))
        cascade.knn_ = KNNClassifier.from_state(encoder, components["knn"], arrays("knn"), texts, index)
    for name, method in blend_methods().items():
        # The kNN, the neighbour memory, was loaded above with its index; other blend methods rebuild from their state.
        if name != KNNClassifier.method and name in components:
            cascade.components_[name] = method.load_component(encoder, components[name], arrays(name))
    cascade.zero_shot_ = None
    if "zero-shot" in components:
        zs = components["zero-shot"]
        cascade.zero_shot_ = ZeroShotClassifier(
            encoder, codebook, temperature=zs["temperature"], review_threshold=zs["review_threshold"], multi_label_ratio=zs["multi_label_ratio"]
        ).fit()
    return cascade


# ---------------------------------------------------------------------- files


def _write_array(path: Path, array: np.ndarray) -> int:
    return write_synced(path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))


def _write_json(path: Path, data: Any) -> int:
    return write_synced(path, lambda f: f.write(json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"))


