"""Accuracy and auto-coded share with and without the LLM adjudicator, on a labelled file.

    python -m benchmarks.llm_adjudicator --llm-url http://127.0.0.1:8080/v1 | --llm-likelihood MODEL.gguf
        [--data F --column C --gold-column G]
        [--codebook ID | --model DIR] [--llm-model NAME] [--limit N]

Defaults: the shipped sample survey's `support` column against its hand-assigned `support_gold`, coded
into the `employer-support` codebook (zero-shot). A row is right when its codes equal the gold codes.
Prints one table; the LLM's answers are cached under AUTOCODE_HOME, so say `--fresh` to measure calls.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.model import load_model
from autocode.embeddings import get_encoder
from autocode.service.llm.cache import LLMCache
from autocode.service.llm.options import LLMOptions, make_adjudicator

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "survey_sample.csv"


def score(predictions: list, gold: list[set[str]]) -> dict[str, float]:
    """Accuracy over all rows, share auto-coded, accuracy of the auto-coded rows."""
    right = [set(p.codes) == g for p, g in zip(predictions, gold, strict=True)]
    auto = [not p.needs_review for p in predictions]
    n_auto = sum(auto)
    return {"accuracy": sum(right) / len(right), "auto": n_auto / len(right),
            "auto_accuracy": (sum(r for r, a in zip(right, auto, strict=True) if a) / n_auto) if n_auto else float("nan")}


def main() -> None:
    """Run both configurations and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llm-url", help="an OpenAI-compatible server")
    parser.add_argument("--llm-likelihood", help="a GGUF model: likelihood scoring in this process instead of a server")
    parser.add_argument("--llm-model", default="default")
    parser.add_argument("--data", type=Path, default=SAMPLE)
    parser.add_argument("--column", default="support")
    parser.add_argument("--gold-column", default="support_gold")
    parser.add_argument("--codebook", default="employer-support")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--fresh", action="store_true", help="use an empty answer cache, so every call is made")
    args = parser.parse_args()
    if not (args.llm_url or args.llm_likelihood):
        parser.error("give --llm-url or --llm-likelihood")
    frame = pd.read_csv(args.data, dtype=str).dropna(subset=[args.column, args.gold_column])
    if args.limit:
        frame = frame.head(args.limit)
    texts = frame[args.column].tolist()
    gold = [set(g.split("|")) for g in frame[args.gold_column]]
    base = load_model(args.model) if args.model else Cascade(get_encoder("minilm"), load_codebook(args.codebook)).fit([], [])
    without = base.predict(texts)
    with tempfile.TemporaryDirectory() as tmp:
        cache = LLMCache(Path(tmp) / "cache.sqlite3") if args.fresh else LLMCache()
        adjudicator = make_adjudicator(base, LLMOptions(url=args.llm_url, model=args.llm_model,
                                                                 likelihood_model=args.llm_likelihood), cache=cache)
        start = time.perf_counter()
        with_llm = adjudicator.predict(texts)
        seconds = time.perf_counter() - start
    rows = [("cascade alone", score(without, gold), "-"), ("cascade + LLM adjudicator", score(with_llm, gold), adjudicator.stats)]
    print(f"{len(texts)} labelled rows from {args.data.name} ({args.column} vs {args.gold_column}); "
          f"LLM {args.llm_likelihood or args.llm_url} model {args.llm_model}")
    print(f"{'configuration':28} {'accuracy':>9} {'auto-coded':>11} {'auto acc.':>10}")
    for name, s, _ in rows:
        print(f"{name:28} {s['accuracy']:9.3f} {s['auto']:11.1%} {s['auto_accuracy']:10.3f}")
    st = adjudicator.stats
    print(f"adjudicator: asked {st.asked}, calls {st.calls}, from cache {st.cached}, decided {st.decided}, none {st.none}, "
          f"no usable answer {st.failed}; {seconds:.1f}s")


if __name__ == "__main__":
    main()
