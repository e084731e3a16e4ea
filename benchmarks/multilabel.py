"""A multi-label set built from Banking77: answers joined from two labelled messages, both intents as gold.

    python -m benchmarks.multilabel --shots 8      # 8 source messages per intent for training (a few minutes)
    python -m benchmarks.multilabel --shots 8 32

Construction, honest by source message: training answers are made only from train.csv messages drawn for
training (`shots` per intent), test answers only from test.csv messages, so no source message is on both
sides. Half the answers are one message (one code), half join two messages of different intents as
"X, and also Y" (two codes). The Cascade runs multi-label; every choice it makes comes from cross-validation
on the training answers. Ablation rows switch one part of multi-label coding off at a time:

    full                       one-vs-rest heads + per-code kNN, clause scoring pooled by max, CV-chosen cap
    no clause scoring          the answer is scored only as a whole
    no cap                     every code above the CV cut, however many

It prints exact set match, micro-F1, sample-F1, auto-coded share and the accuracy (exact set match) of the
auto-coded answers, and what the model folder says was guaranteed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import codebook_from_codes
from autocode.embeddings import Encoder, get_encoder
from benchmarks.banking77 import DEFAULT_DATA, sample_shots


def join_pairs(rows: pd.DataFrame, seed: int, pair_share: float = 0.5) -> tuple[list[str], list[tuple[str, ...]]]:
    """Answers from `rows` (each message used once): a `pair_share` of them joined two by two, different intents."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    texts, cats = rows.text.to_numpy()[order], rows.category.to_numpy()[order]
    n_pairs = int(len(rows) * pair_share / 2)
    out_texts, out_codes = [], []
    used = np.zeros(len(rows), dtype=bool)
    i = 0
    for _ in range(n_pairs):
        while i < len(rows) and used[i]:
            i += 1
        j = next((j for j in range(i + 1, len(rows)) if not used[j] and cats[j] != cats[i]), None)
        if i >= len(rows) or j is None:
            break
        used[i] = used[j] = True
        out_texts.append(f"{texts[i].rstrip(' .?!')}, and also {texts[j][0].lower()}{texts[j][1:]}")
        out_codes.append((str(cats[i]), str(cats[j])))
    for k in np.flatnonzero(~used):
        out_texts.append(str(texts[k]))
        out_codes.append((str(cats[k]),))
    return out_texts, out_codes


def scores(predicted: list[set[str]], gold: list[set[str]], auto: np.ndarray) -> dict[str, float]:
    """Exact set match, micro-F1, sample-F1, auto-coded share and the exact-set rate of the auto-coded answers."""
    exact = np.array([p == g for p, g in zip(predicted, gold, strict=True)])
    tp = sum(len(p & g) for p, g in zip(predicted, gold, strict=True))
    micro = 2 * tp / (sum(map(len, predicted)) + sum(map(len, gold)))
    sample = np.mean([2 * len(p & g) / (len(p) + len(g)) for p, g in zip(predicted, gold, strict=True)])
    return {"exact": float(exact.mean()), "micro_f1": float(micro), "sample_f1": float(sample),
            "auto_share": float(auto.mean()), "auto_exact": float(exact[auto].mean()) if auto.any() else float("nan"),
            "two_code_exact": float(np.mean([e for e, g in zip(exact, gold, strict=True) if len(g) == 2]))}


def run(name: str, encoder: Encoder, train: tuple[list[str], list[tuple[str, ...]]], test: tuple[list[str], list[tuple[str, ...]]],
        target: float, **options: bool) -> dict:
    """Fit one multi-label Cascade on the constructed training answers and score the constructed test answers."""
    texts, codes = train
    codebook = codebook_from_codes(sorted({c for cs in codes for c in cs}), codebook_id="banking77-pairs", multi_label=True)
    start = time.perf_counter()
    cascade = Cascade(encoder, codebook, target_accuracy=target, multi_label=True, clauses=options.get("clauses", True))
    cascade.fit(texts, codes)
    if not options.get("cap", True):
        # Only the cap is lifted: the cut, calibrator and threshold stay as fitted with it.
        cascade.max_codes_ = None
    predictions = cascade.predict(test[0])
    seconds = time.perf_counter() - start
    predicted = [set(p.codes) for p in predictions]
    auto = np.array([not p.needs_review for p in predictions])
    m = cascade.metrics_
    return {"setting": name, **scores(predicted, [set(g) for g in test[1]], auto), "seconds": seconds,
            "cut": m.get("label_threshold"), "cap": cascade.max_codes_, "guarantee": m.get("guarantee", ""),
            "cv_exact": m.get("accuracy")}


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: build the sets, run the full model and its ablations, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[8], help="source messages per intent for training")
    parser.add_argument("--test-size", type=int, default=2000, help="test.csv messages used to build test answers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    train_all = pd.read_csv(args.data / "train.csv")
    test_rows = pd.read_csv(args.data / "test.csv").sample(args.test_size, random_state=args.seed)
    test = join_pairs(test_rows, args.seed + 1)
    encoder = get_encoder("minilm")
    results = []
    for shots in args.shots:
        train = join_pairs(sample_shots(train_all, shots, args.seed), args.seed)
        n_pairs = sum(len(c) == 2 for c in train[1])
        print(f"{shots}-shot: {len(train[0])} training answers ({n_pairs} of two codes) from {shots * train_all.category.nunique()} "
              f"train.csv messages; {len(test[0])} test answers ({sum(len(c) == 2 for c in test[1])} of two codes) "
              f"from {len(test_rows)} test.csv messages", flush=True)
        for label, options in (("full", {}), ("no clause scoring", {"clauses": False}), ("no cap", {"cap": False})):
            r = run(f"{shots}-shot: {label}", encoder, train, test, args.target, **options)
            results.append(r)
            print(f"  {r['setting']}: exact {r['exact']:.3f}, {r['seconds']:.0f}s", flush=True)
    print("\n| setting | exact set match | exact on two-code answers | micro-F1 | sample-F1 | auto-coded share "
          f"(target {args.target}) | exact match of auto-coded | cut / cap (CV) | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        auto_exact = "—" if np.isnan(r["auto_exact"]) else f"{r['auto_exact']:.3f}"
        print(f"| {r['setting']} | {r['exact']:.3f} | {r['two_code_exact']:.3f} | {r['micro_f1']:.3f} | {r['sample_f1']:.3f} | "
              f"{r['auto_share']:.1%} | {auto_exact} | "
              f"{r['cut']} / {r['cap'] or 'none'} | {r['seconds']:.0f} |")
    for r in results:
        print(f"\n{r['setting']}: CV exact set match {r['cv_exact']}; guarantee: {r['guarantee']}")


if __name__ == "__main__":
    main()
