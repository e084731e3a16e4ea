"""Likelihood scoring for base models that cannot follow instructions (llama-cpp-python, a local GGUF file).

Instead of asking for JSON, the prompt is followed by each candidate's label text and the model's mean
log-probability of those tokens is compared; the most likely candidate wins and the softmax of the scores is
its confidence. It has the same call shape as the chat client, so the adjudicator is unchanged. Used only
when asked for (`--llm-likelihood MODEL.gguf`), since it needs the model in this process.
"""

from __future__ import annotations

import math
import os
import re
import threading
from typing import Any

import numpy as np

__all__ = ["LikelihoodChooser"]

_CANDIDATE = re.compile(r"^- (?P<code>[^:\n]+): (?P<name>[^\n]+?)(?: — .*)?$", re.MULTILINE)


class LikelihoodChooser:
    """`chooser(messages, schema) -> {"code", "confidence", "reason"}` by scoring each candidate's label text."""

    def __init__(self, model_path: str, *, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        from llama_cpp import Llama

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.model_path = model_path
        self.llm = Llama(model_path=model_path, n_ctx=n_ctx, logits_all=True, verbose=False,
                         n_threads=n_threads or max(1, (os.cpu_count() or 2)))
        self._lock = threading.Lock()  # one llama context: calls take turns
        self.evaluations = 0

    def __call__(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        """Score the schema's candidate codes (named as in the prompt's candidate list) and pick the most likely."""
        key = "codes" if "codes" in schema["properties"] else "code"
        spec = schema["properties"][key]
        codes = list((spec.get("items") or spec)["enum"])
        names = {m["code"].strip(): m["name"].strip() for m in _CANDIDATE.finditer(messages[-1]["content"])}
        prompt = "\n\n".join(m["content"] for m in messages) + "\n\nThe code that fits best is:"
        with self._lock:
            scores = self._scores(prompt, [names.get(c, c) for c in codes])
        weights = np.exp(scores - scores.max())
        share = weights / weights.sum()
        best = int(np.argmax(scores))
        runner_up = sorted(scores)[-2] if len(scores) > 1 else -math.inf
        reason = f"likelihood scoring: mean log-probability {scores[best]:.2f} for {codes[best]} (next best {runner_up:.2f})"
        return {key: [codes[best]] if key == "codes" else codes[best], "confidence": round(float(share[best]), 4), "reason": reason}

    def _scores(self, prompt: str, texts: list[str]) -> np.ndarray:
        llm = self.llm
        prefix = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
        llm.reset()
        llm.eval(prefix)
        state = llm.save_state()  # the prompt is evaluated once; each candidate continues from it
        out = []
        for text in texts:
            tokens = llm.tokenize((" " + text).encode("utf-8"), add_bos=False) or llm.tokenize(b" none", add_bos=False)
            llm.load_state(state)
            llm.eval(tokens)
            self.evaluations += 1
            logits = np.asarray(llm.scores[len(prefix) - 1: len(prefix) + len(tokens) - 1], dtype=np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            logprobs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            out.append(float(np.mean(logprobs[np.arange(len(tokens)), tokens])))
        return np.asarray(out)
