"""Banking77: train on train.csv (8 and 32 examples per intent, and the full set), code test.csv, print a table.

    python -m benchmarks.banking77                         # 8-shot, 32-shot and full
    python -m benchmarks.banking77 --shots 8 --seeds 3     # few-shot only, three draws of the examples
    python -m benchmarks.banking77 --full --unknown        # full only, with measured unknown-answer recall

Per setting: accuracy, auto-coded share, accuracy of the auto-coded answers, what the model says it
guaranteed (the lower confidence bound on how many out-of-fold rows, metrics_["guarantee"]), and the
unknown-answer recall: the model's own estimate from held-out labels in cross-validation, and with
--unknown the recall measured by benchmarks/unknown_answers.py's run (20% of intents left out of training,
their test answers must go to review).

Every hyper-parameter is chosen by cross-validation on the training rows (the Cascade does its
own; the logistic-regression baseline picks C by 5-fold CV). test.csv is used only to score.
Texts are embedded once up front (all-MiniLM-L6-v2 unless --encoder), so the times are fit + predict on cached vectors.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from threadpoolctl import threadpool_limits

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import codebook_from_codes
from autocode.embeddings import get_encoder

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "banking77"


def sample_shots(train: pd.DataFrame, shots: int, seed: int) -> pd.DataFrame:
    """`shots` rows per intent, drawn with a fixed seed."""
    return train.groupby("category").sample(shots, random_state=seed)


def baseline_logreg(x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression on frozen embeddings, C chosen by 5-fold CV on the training rows."""
    with threadpool_limits(limits=1, user_api="blas"):
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        scores = {c: cross_val_score(LogisticRegression(C=c, max_iter=1000), x, y, cv=folds).mean() for c in (1.0, 10.0, 100.0)}
        best = max(scores, key=scores.__getitem__)
        model = LogisticRegression(C=best, max_iter=1000).fit(x, y)
        return model.predict(x_test), best


def baseline_knn1(x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """The label of the single most similar training text."""
    return y[(x_test @ x.T).argmax(axis=1)]


def run_setting(name: str, train: pd.DataFrame, test: pd.DataFrame, encoder, target: float, baselines: bool = True) -> list[dict]:
    """Fit and score the Cascade (and both baselines) on one training set."""
    rows = []
    texts, codes = train.text.tolist(), train.category.to_numpy()
    x, x_test = encoder.encode(texts), encoder.encode(test.text.tolist())
    truth = test.category.to_numpy()

    start = time.perf_counter()
    cascade = Cascade(encoder, codebook_from_codes(codes, codebook_id="banking77"), target_accuracy=target)
    cascade.fit(texts, [(c,) for c in codes])
    predictions = cascade.predict(test.text.tolist())
    seconds = time.perf_counter() - start
    predicted = np.array([p.codes[0] for p in predictions])
    auto = np.array([not p.needs_review for p in predictions])
    m = cascade.metrics_
    rows.append(_row(f"{name}: Cascade ({cascade.method_name})", predicted, truth, auto, seconds))
    rows[-1]["guarantee"] = (f"{'yes' if m['guaranteed'] else 'no'}: lower bound {m['accuracy_lower_bound']} on "
                             f"{round(m['coverage'] * m['n_validation'])}/{m['n_validation']} rows")
    rows[-1]["guarantee_note"] = m["guarantee"]
    rows[-1]["unknown_estimate"] = m.get("unknown_recall")
    rows[-1]["cv"] = f"CV on train: acc {m['accuracy']:.3f}, auto {m['coverage']:.1%} at {m['accuracy_at_threshold'] or 0:.3f}"
    rows[-1]["extra"] = (
        f"weights {m['weights']}, k={m['hyperparameters']['knn']['k']}, C={m['hyperparameters'].get('head', {}).get('C')}, "
        f"threshold {cascade.threshold_:.3f}, alias-decided {np.mean([p.method == 'alias' for p in predictions]):.1%}"
    )

    if not baselines:
        return rows
    start = time.perf_counter()
    lr_pred, c = baseline_logreg(x, codes, x_test)
    rows.append(_row(f"{name}: LR on frozen embeddings (C={c:g} by CV)", lr_pred, truth, None, time.perf_counter() - start))
    start = time.perf_counter()
    rows.append(_row(f"{name}: kNN k=1", baseline_knn1(x, codes, x_test), truth, None, time.perf_counter() - start))
    return rows


def _row(setting: str, predicted: np.ndarray, truth: np.ndarray, auto: np.ndarray | None, seconds: float) -> dict:
    right = predicted == truth
    return {
        "setting": setting,
        "accuracy": float(right.mean()),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "auto_share": None if auto is None else float(auto.mean()),
        "auto_accuracy": None if auto is None or not auto.any() else float(right[auto].mean()),
        "seconds": seconds,
    }


def print_table(rows: Sequence[dict], target: float) -> None:
    """A Markdown table, ready to paste into the README."""
    print(f"| method / setting | accuracy | macro-F1 | auto-coded share (target {target}) | accuracy of auto-coded | "
          "guaranteed (lower bound, rows) | unknown recall: estimate / measured | time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        share = "—" if r["auto_share"] is None else f"{r['auto_share']:.1%}"
        auto_acc = "—" if r["auto_accuracy"] is None else f"{r['auto_accuracy']:.3f}"
        estimate = "—" if r.get("unknown_estimate") is None else f"{r['unknown_estimate']:.3f}"
        measured = "—" if r.get("unknown_measured") is None else f"{r['unknown_measured']:.3f}"
        unknown = "—" if "guarantee" not in r else f"{estimate} / {measured}"
        print(f"| {r['setting']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {share} | {auto_acc} | {r.get('guarantee', '—')} | "
              f"{unknown} | {r['seconds']:.1f} |")
    for r in rows:
        if "cv" in r:
            print(f"\n{r['setting']}: {r['cv']}; {r['extra']}\n  guarantee: {r['guarantee_note']}")


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: parse options, run the settings asked for, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, nargs="+", default=None, help="examples per intent for few-shot settings (default 8 32)")
    parser.add_argument("--seeds", type=int, default=1, help="draws of the few-shot examples (seed, seed+1, ...)")
    parser.add_argument("--unknown", action="store_true", help="also measure unknown-answer recall (20%% of intents held out; refits)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the logistic-regression and 1-NN baselines")
    parser.add_argument("--full", action="store_true", help="train on the full training set")
    parser.add_argument("--seed", type=int, default=0, help="seed for drawing the few-shot examples")
    parser.add_argument("--target", type=float, default=0.95, help="target accuracy of the auto-coded part")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding train.csv and test.csv")
    parser.add_argument("--encoder", default="minilm", help="minilm (ONNX fp32), minilm-int8, minilm-torch or use-multilingual")
    args = parser.parse_args(argv)
    shots, full = args.shots, args.full
    if shots is None and not full:
        shots, full = [8, 32], True
    train = pd.read_csv(args.data / "train.csv")
    test = pd.read_csv(args.data / "test.csv")
    encoder = get_encoder(args.encoder)
    start = time.perf_counter()
    encoder.encode(train.text.tolist() + test.text.tolist())
    print(f"banking77: {len(train)} train / {len(test)} test texts, {train.category.nunique()} intents; "
          f"encoder {encoder.name}; embedded all texts once in {time.perf_counter() - start:.1f}s\n")
    settings = [(f"{n}-shot" + (f" seed {args.seed + s}" if args.seeds > 1 else ""), n, args.seed + s)
                for n in shots or [] for s in range(args.seeds)]
    settings += [("full", None, args.seed)] if full else []
    rows = []
    for name, n, seed in settings:
        rows_of = sample_shots(train, n, seed) if n else train
        rows += run_setting(name, rows_of, test, encoder, args.target, baselines=not args.no_baselines)
        cascade_row = next(r for r in reversed(rows) if "guarantee" in r)
        if args.unknown:
            from benchmarks.unknown_answers import held_out_intents, run_draw

            removed = held_out_intents(sorted(train.category.unique()), 0.2, seed)
            cascade_row["unknown_measured"] = run_draw(rows_of, test, encoder, removed, args.target)["new"]["unknown_recall"]
        print(f"{name}: accuracy {cascade_row['accuracy']:.3f}, auto-coded {cascade_row['auto_share']:.1%} at "
              f"{cascade_row['auto_accuracy'] or 0:.3f}, {cascade_row['seconds']:.0f}s", flush=True)
    print()
    print_table(rows, args.target)


if __name__ == "__main__":
    main()
