"""Banking77: train on train.csv (8 examples per intent, and the full set), code test.csv, print a table.

    python -m benchmarks.banking77             # both settings
    python -m benchmarks.banking77 --shots 8   # few-shot only
    python -m benchmarks.banking77 --full      # full training set only

Every hyper-parameter is chosen by cross-validation on the training rows (the Cascade does its
own; the logistic-regression baseline picks C by 5-fold CV). test.csv is used only to score.
Texts are embedded once up front (all-MiniLM-L6-v2), so the times are fit + predict on cached vectors.
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


def run_setting(name: str, train: pd.DataFrame, test: pd.DataFrame, encoder, target: float) -> list[dict]:
    """Fit and score the Cascade and both baselines on one training set."""
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
    rows[-1]["cv"] = f"CV on train: acc {m['accuracy']:.3f}, auto {m['coverage']:.1%} at {m['accuracy_at_threshold'] or 0:.3f}"
    rows[-1]["extra"] = (
        f"weights {m['weights']}, k={m['hyperparameters']['knn']['k']}, C={m['hyperparameters'].get('head', {}).get('C')}, "
        f"threshold {cascade.threshold_:.3f}, alias-decided {np.mean([p.method == 'alias' for p in predictions]):.1%}"
    )

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
    print(f"| method / setting | accuracy | macro-F1 | auto-coded share (target {target}) | accuracy of auto-coded | time (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        share = "—" if r["auto_share"] is None else f"{r['auto_share']:.1%}"
        auto_acc = "—" if r["auto_accuracy"] is None else f"{r['auto_accuracy']:.3f}"
        print(f"| {r['setting']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {share} | {auto_acc} | {r['seconds']:.1f} |")
    for r in rows:
        if "cv" in r:
            print(f"\n{r['setting']}: {r['cv']}; {r['extra']}")


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: parse options, run the settings asked for, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=None, help="examples per intent for the few-shot setting (default 8)")
    parser.add_argument("--full", action="store_true", help="train on the full training set")
    parser.add_argument("--seed", type=int, default=0, help="seed for drawing the few-shot examples")
    parser.add_argument("--target", type=float, default=0.95, help="target accuracy of the auto-coded part")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding train.csv and test.csv")
    args = parser.parse_args(argv)
    shots, full = args.shots, args.full
    if shots is None and not full:
        shots, full = 8, True
    train = pd.read_csv(args.data / "train.csv")
    test = pd.read_csv(args.data / "test.csv")
    encoder = get_encoder("minilm")
    start = time.perf_counter()
    encoder.encode(train.text.tolist() + test.text.tolist())
    print(f"banking77: {len(train)} train / {len(test)} test texts, {train.category.nunique()} intents; "
          f"encoder {encoder.name}; embedded all texts once in {time.perf_counter() - start:.1f}s\n")
    rows = []
    if shots:
        rows += run_setting(f"{shots}-shot", sample_shots(train, shots, args.seed), test, encoder, args.target)
    if full:
        rows += run_setting("full", train, test, encoder, args.target)
    print_table(rows, args.target)


if __name__ == "__main__":
    main()
