"""all-MiniLM-L6-v2 through ONNX Runtime: the fp32 export (the same vectors as sentence-transformers) or its int8
quantisation; torch is never imported on this path, so a process starts in a fraction of the time."""

from __future__ import annotations

import os

import numpy as np

from autocode.embeddings.offline import force_offline
from autocode.embeddings.threads import quiet_blas

# Rows per model call from the token budget: short names go 128 at a time, 256-token texts 16 at a time, so
# padding and the attention's memory stay small whatever the mix.
_TOKEN_BUDGET = 4096
_MAX_ROWS = 128


class OnnxMiniLMBackend:
    """The packaged MiniLM exported to ONNX (autocode.embeddings.onnx_export), fp32 or int8."""

    texts_per_call = 4096  # encode_batch groups them by length and token budget itself

    def __init__(self, quantised: bool = False, threads: int | None = None) -> None:
        force_offline()
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from autocode.embeddings.onnx_export import FP32, INT8, ensure_export, model_dir

        ort.disable_telemetry_events()  # no usage events, whatever the build's default
        ort.set_default_logger_severity(3)  # the quantised graph's optimiser notes are not the user's concern
        folder = ensure_export()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads would spin between calls and take the cores from numpy's scoring in the same process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(folder / (INT8 if quantised else FP32)), options,
                                             providers=["CPUExecutionProvider"])
        self.name = "sentence-transformers/all-MiniLM-L6-v2" + (" (onnx int8)" if quantised else "")
        self.dim, self.max_tokens = 384, 256  # the package's sentence_bert_config max_seq_length
        # The file's own settings (truncation at 128, padding) are the hub repository's, not sentence-transformers':
        # texts are cut at max_seq_length, counting [CLS] and [SEP], and each call is padded here.
        self._tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens)
        self._counter = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))  # uncut, for counting and spans
        self._counter.no_padding()
        self._counter.no_truncation()
        quiet_blas()

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode texts in token-budgeted model calls, longest first, each padded to its own longest."""
        encoded = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids), reverse=True)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            width = len(encoded[order[start]].ids)
            rows = order[start : start + max(1, min(_MAX_ROWS, _TOKEN_BUDGET // max(width, 1)))]
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encoded[i].ids)
                ids[r, :n] = encoded[i].ids
                mask[r, :n] = 1
            out[rows] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            start += len(rows)
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Number of word-piece tokens per text, special tokens excluded."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word-piece token of one text."""
        return [(int(a), int(b)) for a, b in self._counter.encode(text, add_special_tokens=False).offsets]
