"""Banking77 few-shot with a SetFit-style fine-tuned encoder: does contrastive fine-tuning lift accuracy?

    python -m benchmarks.banking77_finetune                      # 8-shot, seed 0, choose loss by validation
    python -m benchmarks.banking77_finetune --shots 8 --seed 1
    python -m benchmarks.banking77_finetune --loss mnrl --pairs 8  # one configuration, no choice

Protocol (test.csv is used only to score the final model)
    1. The few-shot rows are drawn exactly as benchmarks/banking77.py draws them (same function, seed).
    2. Each candidate (loss x pairs per text x epochs) fine-tunes a fresh copy of all-MiniLM-L6-v2 on
       those rows only. It is scored on validation rows drawn from the REST of train.csv (rows not in
       the few-shot draw, `--val-per-class` per intent): the Cascade and logistic regression are fit on
       the few-shot rows with the candidate's embeddings and predict the validation rows.
    3. The candidate with the best validation accuracy of the Cascade is the model; the Cascade (its
       own CV on the few-shot rows), LR and kNN are then fit on the few-shot rows and score test.csv,
       beside the same three on the frozen encoder.
Fine-tuned folders are kept under --work (one per candidate, named by its settings) and reused when
their autocode.json says they were trained on the same rows with the same settings; --fresh retrains.
Fine-tuning time is the wall time of the run that trained the folder, and its CPU time (all threads).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import codebook_from_codes
from autocode.embeddings import Encoder, get_encoder
from autocode.embeddings.finetune import MANIFEST, FineTunedMiniLMBackend, data_digest, finetune_minilm
from benchmarks.banking77 import DEFAULT_DATA, baseline_logreg, print_table, run_setting, sample_shots

DEFAULT_WORK = Path(tempfile.gettempdir()) / "autocode-finetune"


def validation_rows(train: pd.DataFrame, shots: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """`per_class` rows per intent from train.csv rows that are not in the few-shot draw."""
    rest = train.drop(index=shots.index)
    return rest.groupby("category").sample(per_class, random_state=seed)


def fine_tuned(shots: pd.DataFrame, folder: Path, config: dict, seed: int, fresh: bool) -> Path:
    """The fine-tuned folder for `config`: reused if it was trained on these rows with these settings."""
    texts, labels = shots.text.tolist(), shots.category.tolist()
    manifest = folder / MANIFEST
    if manifest.is_file() and not fresh:
        done = json.loads(manifest.read_text())["training"]
        same = {k: done.get(k) for k in (*config, "seed", "data_digest")} == {**config, "seed": seed, "data_digest": data_digest(texts, labels)}
        if same:
            print(f"  reusing {folder.name}: trained in {done['seconds']:.0f}s wall, {done['cpu_seconds']:.0f}s CPU", flush=True)
            return folder
    return finetune_minilm(texts, labels, folder, seed=seed, **config)


def score_on_validation(encoder: Encoder, shots: pd.DataFrame, val: pd.DataFrame, target: float) -> dict:
    """Cascade and LR fit on the few-shot rows, accuracy on the validation rows."""
    texts, codes = shots.text.tolist(), shots.category.to_numpy()
    truth = val.category.to_numpy()
    cascade = Cascade(encoder, codebook_from_codes(codes, codebook_id="banking77"), target_accuracy=target)
    cascade.fit(texts, [(c,) for c in codes])
    predicted = np.array([p.codes[0] for p in cascade.predict(val.text.tolist())])
    lr_pred, _ = baseline_logreg(encoder.encode(texts), codes, encoder.encode(val.text.tolist()))
    return {"cascade": float((predicted == truth).mean()), "lr": float((lr_pred == truth).mean()), "cascade_cv": cascade.metrics_.get("accuracy")}


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: draw, choose a fine-tune by validation, score it and the frozen encoder on test."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=8, help="examples per intent (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the few-shot draw, the validation draw and the fine-tune")
    parser.add_argument("--loss", nargs="+", default=["cosine", "mnrl"], choices=["cosine", "mnrl"], help="losses to try")
    parser.add_argument("--pairs", nargs="+", type=int, default=[8], help="pairs per text to try (each costs two text passes)")
    parser.add_argument("--epochs", nargs="+", type=int, default=[1], help="epochs to try")
    parser.add_argument("--batch-size", nargs="+", type=int, default=[16], help="batch sizes to try (pairs per step)")
    parser.add_argument("--lr", nargs="+", type=float, default=[2e-5], help="learning rates to try")
    parser.add_argument(
        "--config", action="append", default=None, metavar="LOSS:PAIRS:EPOCHS:BATCH:LR",
        help="one candidate, e.g. mnrl:20:1:32:2e-5 (repeat it); replaces the grid of the options above",
    )
    parser.add_argument("--val-per-class", type=int, default=10, help="validation rows per intent from the rest of train.csv")
    parser.add_argument("--target", type=float, default=0.95, help="target accuracy of the auto-coded part")
    parser.add_argument("--no-frozen", action="store_true", help="skip the frozen-encoder rows on test")
    parser.add_argument("--fresh", action="store_true", help="retrain folders even where a matching one exists")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding train.csv and test.csv")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where fine-tuned folders are kept")
    args = parser.parse_args(argv)

    train = pd.read_csv(args.data / "train.csv")
    test = pd.read_csv(args.data / "test.csv")
    shots = sample_shots(train, args.shots, args.seed)
    val = validation_rows(train, shots, args.val_per_class, args.seed)
    assert not set(val.index) & set(shots.index)
    print(
        f"banking77 {args.shots}-shot, seed {args.seed}: {len(shots)} training rows, {len(val)} validation rows from the rest "
        f"of train.csv, {len(test)} test rows; torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}\n",
        flush=True,
    )
    frozen = get_encoder("minilm")
    candidates = []
    base = score_on_validation(frozen, shots, val, args.target)
    print(f"validation, frozen encoder: Cascade {base['cascade']:.3f}, LR {base['lr']:.3f}", flush=True)
    if args.config:
        grid = [(loss, int(p), int(e), int(b), float(lr)) for loss, p, e, b, lr in (c.split(":") for c in args.config)]
    else:
        grid = list(itertools.product(args.loss, args.pairs, args.epochs, args.batch_size, args.lr))
    for loss, pairs, epochs, batch_size, lr in grid:
        config = {"loss": loss, "pairs_per_text": pairs, "epochs": epochs, "batch_size": batch_size, "lr": lr}
        name = f"{loss}-p{pairs}-e{epochs}-b{batch_size}-lr{lr:g}"
        folder = args.work / f"banking77-{args.shots}shot-seed{args.seed}" / name
        print(f"candidate {name}:", flush=True)
        path = fine_tuned(shots, folder, config, args.seed, args.fresh)
        done = json.loads((path / MANIFEST).read_text())["training"]
        start = time.perf_counter()
        encoder = Encoder(FineTunedMiniLMBackend(path), key=f"ft-{name}")
        scores = score_on_validation(encoder, shots, val, args.target)
        print(
            f"  validation: Cascade {scores['cascade']:.3f}, LR {scores['lr']:.3f} (scored in {time.perf_counter() - start:.0f}s); "
            f"fine-tune {done['steps']} steps, {done['seconds']:.0f}s wall, {done['cpu_seconds']:.0f}s CPU",
            flush=True,
        )
        candidates.append({"name": name, "path": path, "encoder": encoder, "training": done, **scores})
        encoder.clear_cache()

    best = max(candidates, key=lambda c: (c["cascade"], c["lr"]))
    print(f"\nchosen by validation: {best['name']} (Cascade {best['cascade']:.3f} vs frozen {base['cascade']:.3f})\n", flush=True)
    rows = []
    if not args.no_frozen:
        rows += run_setting(f"{args.shots}-shot frozen", shots, test, frozen, args.target)
    tuned_rows = run_setting(f"{args.shots}-shot fine-tuned {best['name']}", shots, test, best["encoder"], args.target)
    for row in tuned_rows:  # run_setting names its LR row for the frozen case
        row["setting"] = row["setting"].replace("LR on frozen embeddings", "LR on fine-tuned embeddings")
    rows += tuned_rows

    print("| candidate | val Cascade | val LR | steps | fine-tune wall (s) | fine-tune CPU (s) |")
    print("|---|---|---|---|---|---|")
    print(f"| frozen all-MiniLM-L6-v2 | {base['cascade']:.3f} | {base['lr']:.3f} | — | — | — |")
    for c in candidates:
        t = c["training"]
        print(f"| {c['name']} | {c['cascade']:.3f} | {c['lr']:.3f} | {t['steps']} | {t['seconds']:.0f} | {t['cpu_seconds']:.0f} |")
    print()
    print_table(rows, args.target)
    print(f"\nfine-tuned encoder: {best['encoder'].name} at {best['path']}")


if __name__ == "__main__":
    main()
