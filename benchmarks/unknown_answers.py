"""Unknown answers: hold out ~20% of Banking77's intents entirely, train on the rest, and see which answers go to review.

    python -m benchmarks.unknown_answers --shots 8   # 8 examples per kept intent (about a minute)
    python -m benchmarks.unknown_answers --full      # every train.csv row of the kept intents (slow)

For each draw, a seeded random ~20% of the intents is removed from training (its rows, and so its label row),
the Cascade is trained on the other intents, and every test.csv answer is coded. Answers of the removed
intents fit no label: the right outcome for them is review. It prints

    unknown recall            share of the removed intents' test answers sent to review
    known auto-coded share    share of the kept intents' test answers auto-coded, and their accuracy

with the novelty floor set on held-out labels (classifiers/novelty.py) and with the per-row floor it replaced
(thresholds.novelty_floor, what the model recorded as metrics_["novelty"]["rows_floor"]): the same fitted
model predicts twice, so the two differ only by the floor. Also the model's own estimate of unknown recall
(metrics_["unknown_recall"], from training rows only) and the cost of the held-out-labels pass in fit time.
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


def held_out_intents(intents: Sequence[str], share: float, seed: int) -> set[str]:
    """A seeded random `share` of the intents (at least one)."""
    rng = np.random.default_rng(seed)
    return {str(c) for c in rng.choice(sorted(intents), max(1, round(share * len(intents))), replace=False)}


def score(cascade: Cascade, test: pd.DataFrame, unknown: np.ndarray) -> dict[str, float]:
    """Unknown recall, and the known answers' auto-coded share and its accuracy, at the cascade's current floor."""
    predictions = cascade.predict(test.text.tolist())
    review = np.array([p.needs_review for p in predictions])
    right = np.array([p.codes == (c,) for p, c in zip(predictions, test.category, strict=True)])
    auto = ~review & ~unknown
    return {
        "unknown_recall": float(review[unknown].mean()),
        "known_auto": float(auto.sum() / (~unknown).sum()),
        "known_auto_accuracy": float(right[auto].mean()) if auto.any() else float("nan"),
        "novel_reason": float(np.mean([p.reason is not None and p.reason.startswith("novel") for p in predictions])),
    }


def run_draw(train: pd.DataFrame, test: pd.DataFrame, encoder: Encoder, removed: set[str], target: float) -> dict:
    """Fit on the kept intents, score the test set with the new floor and with the per-row floor."""
    kept = train[~train.category.isin(removed)]
    unknown = test.category.isin(removed).to_numpy()
    encoder.encode(kept.text.tolist())  # embedded before the clock starts, as the test answers: fit times are on cached vectors
    cascade = Cascade(encoder, codebook_from_codes(kept.category, codebook_id="banking77-kept"), target_accuracy=target)
    cascade.fit(kept.text.tolist(), [(c,) for c in kept.category])
    m = cascade.metrics_
    novelty = m["novelty"]
    new = score(cascade, test, unknown)
    floor = cascade.ood_floor_
    cascade.ood_floor_ = novelty["rows_floor"]
    old = score(cascade, test, unknown)
    cascade.ood_floor_ = floor
    return {"new": new, "old": old, "floor": floor, "rows_floor": novelty["rows_floor"], "estimate": m["unknown_recall"],
            "known_loss": novelty["known_loss"], "fit_s": m["seconds"], "novelty_s": novelty["seconds"],
            "n_train": len(kept), "removed": len(removed)}


def run_setting(name: str, train: pd.DataFrame, test: pd.DataFrame, encoder: Encoder, args: argparse.Namespace,
                shots: int | None) -> list[dict]:
    """Every draw of one training setting, printed as it finishes."""
    intents = sorted(train.category.unique())
    out = []
    for draw in range(args.draws):
        removed = held_out_intents(intents, args.holdout, args.seed + draw)
        rows = sample_shots(train, shots, args.seed + draw) if shots else train
        r = run_draw(rows, test, encoder, removed, args.target)
        out.append(r)
        print(f"{name} draw {draw}: {r['removed']} intents held out, {r['n_train']} training rows; floor {r['rows_floor']:.3f} -> "
              f"{r['floor']:.3f}; unknown recall {r['old']['unknown_recall']:.3f} -> {r['new']['unknown_recall']:.3f} "
              f"(model's estimate {r['estimate']:.3f}); known auto-coded {r['old']['known_auto']:.3f} -> {r['new']['known_auto']:.3f} "
              f"at {r['old']['known_auto_accuracy']:.3f} -> {r['new']['known_auto_accuracy']:.3f}; fit {r['fit_s']:.1f}s "
              f"of which held-out labels {r['novelty_s']:.1f}s", flush=True)
    return out


def print_table(results: dict[str, list[dict]]) -> None:
    """Means over the draws, a Markdown table ready for the README."""
    print("\n| setting | novelty floor | floor (mean) | unknown recall | known auto-coded share | accuracy of known auto-coded | fit time (s) |")
    print("|---|---|---|---|---|---|---|")
    for name, draws in results.items():
        fit_new = np.mean([d["fit_s"] for d in draws])
        fit_old = np.mean([d["fit_s"] - d["novelty_s"] for d in draws])
        for key, label, floor, fit in (("old", "per-row (before)", "rows_floor", fit_old), ("new", "held-out labels", "floor", fit_new)):
            mean = {k: np.mean([d[key][k] for d in draws]) for k in draws[0][key]}
            spread = f"{min(d[key]['unknown_recall'] for d in draws):.3f}-{max(d[key]['unknown_recall'] for d in draws):.3f}"
            print(f"| {name} ({len(draws)} draws) | {label} | {np.mean([d[floor] for d in draws]):.3f} | {mean['unknown_recall']:.3f} "
                  f"({spread}) | {mean['known_auto']:.3f} | {mean['known_auto_accuracy']:.3f} | {fit:.1f} |")
        drop = [100 * (d["old"]["known_auto"] - d["new"]["known_auto"]) for d in draws]
        print(f"\n{name}: known auto-coded share fell {np.mean(drop):.1f} points (per draw {', '.join(f'{x:.1f}' for x in drop)}); "
              f"the model's own unknown-recall estimate {np.mean([d['estimate'] for d in draws]):.3f}; "
              f"held-out-labels pass {np.mean([d['novelty_s'] for d in draws]):.2f}s of {fit_new:.2f}s fit "
              f"(+{100 * np.mean([d['novelty_s'] / (d['fit_s'] - d['novelty_s']) for d in draws]):.0f}%)\n")


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: parse options, run the settings asked for, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=None, help="examples per kept intent for the few-shot setting")
    parser.add_argument("--full", action="store_true", help="train on every train.csv row of the kept intents")
    parser.add_argument("--draws", type=int, default=5, help="random held-out sets of intents per setting")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of intents held out of training")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first draw (held-out intents and shots)")
    parser.add_argument("--target", type=float, default=0.95, help="target accuracy of the auto-coded part")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding train.csv and test.csv")
    args = parser.parse_args(argv)
    if args.shots is None and not args.full:
        parser.error("choose --shots N and/or --full")
    train = pd.read_csv(args.data / "train.csv")
    test = pd.read_csv(args.data / "test.csv")
    encoder = get_encoder("minilm")
    start = time.perf_counter()
    encoder.encode(test.text.tolist())  # once: every draw codes the same test answers from the encoder's cache
    print(f"banking77: {len(train)} train / {len(test)} test texts, {train.category.nunique()} intents, "
          f"{args.holdout:.0%} held out per draw; encoder {encoder.name}; test texts embedded in {time.perf_counter() - start:.1f}s\n")
    results = {}
    if args.shots:
        results[f"{args.shots}-shot"] = run_setting(f"{args.shots}-shot", train, test, encoder, args, args.shots)
    if args.full:
        results["full"] = run_setting("full", train, test, encoder, args, None)
    print_table(results)


if __name__ == "__main__":
    main()
