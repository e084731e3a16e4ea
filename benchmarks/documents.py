"""Documents: company summaries written as PDF, DOCX, HTML and TXT, coded by `code_documents`, against plain text.

    python -m benchmarks.documents                            # 400 companies: about 120 test documents per format
    python -m benchmarks.documents --companies 1000 --seed 1  # about 300 per format, another draw (a longer run)

The default is sized for a shared two-core machine (about 10 minutes): the multi-label Cascade also scores every
clause of a summary, so coding is a few texts per second there.

Data: ../shared/data/companies.csv (JerBouma/FinanceDatabase, MIT; see ../shared/data/SOURCES.md), the companies
with a business summary. Labels are two codes per company, `sector:<GICS sector>` and `group:<GICS industry
group>` (the file has the industry group column, so no level is substituted; the labels were assigned by
FinanceDatabase's maintainer, not by MSCI). `--companies` are drawn with the seed and split by company into train
and test (70/30, seeded); industry groups with fewer than `--min-train` training companies are dropped from both
sides, so every test label was seen in training.

Each test summary is written four times into a temporary folder, the same sentences split into paragraphs of
three sentences under the company-neutral heading "Business overview": a PDF (reportlab, Heading1 + body
paragraphs), a DOCX (python-docx, Heading 1 + paragraphs), an HTML page (nav, header and footer boilerplate
around a <main> holding h1 + p) and a TXT file (heading line, blank line, paragraphs). File names are numbers,
so nothing but the text says what the company does.

A multi-label Cascade (minilm encoder, codebook from the codes seen in training) is fitted on the training
summaries as plain text; every choice it makes comes from its own cross-validation. The test folder is coded
with code_documents(paths, cascade, workers=2), one format at a time, and the plain-text baseline is the same
test summaries through cascade.predict. The encoder's exact-text cache is cleared before each timed step, so no
step reuses another's vectors. Per format and overall it prints: exact set match (both codes right and nothing
else), sector accuracy (exactly one sector code, the right one), micro-F1 over all codes, auto-coded share
(needs_review False) and the exact set match of the auto-coded documents, documents/s (the whole code_documents
call: process pool, extraction, chunking, encoding, coding) against texts/s for plain text; and extraction alone
(extract_all, workers=2) in pages/s per format, a DOCX, HTML or TXT document counting as one page.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from autocode.classifiers.cascade import Cascade
from autocode.classifiers.codebook import codebook_from_codes
from autocode.embeddings import get_encoder
from autocode.service.documents.extract import DocumentError, extract_all
from autocode.service.documents.runner import code_documents

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "companies.csv"
FORMATS = ("pdf", "docx", "html", "txt")
HEADING = "Business overview"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def load_split(path: Path, companies: int, seed: int, test_share: float, min_train: int
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Companies with a summary, `companies` drawn with the seed, split by company; rare groups dropped."""
    data = pd.read_csv(path, usecols=["name", "sector", "industry_group", "summary"])
    data = data.dropna(subset=["sector", "industry_group", "summary"])
    data = data[data.summary.str.strip().str.len() > 0].drop_duplicates("name")
    data = data.sample(min(companies, len(data)), random_state=seed).reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(data))
    n_test = round(len(data) * test_share)
    test, train = data.iloc[order[:n_test]], data.iloc[order[n_test:]]
    counts = train.industry_group.value_counts()
    keep = set(counts[counts >= min_train].index)
    return (train[train.industry_group.isin(keep)].reset_index(drop=True),
            test[test.industry_group.isin(keep)].reset_index(drop=True))


def gold(row: pd.Series) -> tuple[str, str]:
    """The two codes of a company."""
    return f"sector:{row.sector}", f"group:{row.industry_group}"


def paragraphs(summary: str, per: int = 3) -> list[str]:
    """The summary's sentences, `per` to a paragraph (the same words, only the layout changes)."""
    sentences = [s.strip() for s in _SENTENCE.split(summary.strip()) if s.strip()]
    return [" ".join(sentences[i:i + per]) for i in range(0, len(sentences), per)] or [summary.strip()]


def write_pdf(path: Path, paras: list[str]) -> None:
    """Heading1 then body paragraphs, reportlab's default letter page."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    story = [Paragraph(HEADING, styles["Heading1"])]
    for p in paras:
        story += [Paragraph(escape(p, quote=False), styles["BodyText"]), Spacer(1, 6)]
    SimpleDocTemplate(str(path), title=HEADING).build(story)


def write_docx(path: Path, paras: list[str]) -> None:
    """Heading 1 then paragraphs."""
    import docx

    document = docx.Document()
    document.add_heading(HEADING, level=1)
    for p in paras:
        document.add_paragraph(p)
    document.save(str(path))


def write_html(path: Path, paras: list[str]) -> None:
    """A page with site boilerplate (nav, header, footer) around <main>."""
    body = "\n".join(f"    <p>{escape(p)}</p>" for p in paras)
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{HEADING}</title>
<style>body {{ font-family: sans-serif; }}</style><script>var analytics = "tracking";</script></head>
<body>
  <header><a href="/">Home</a> <span>Investor relations</span></header>
  <nav><ul><li><a href="/about">About us</a></li><li><a href="/investors">Investors</a></li>
  <li><a href="/careers">Careers</a></li><li><a href="/contact">Contact</a></li></ul></nav>
  <main>
    <h1>{HEADING}</h1>
{body}
  </main>
  <footer><p>All rights reserved. Privacy policy. Cookie settings. Terms of use.</p></footer>
</body></html>
""", encoding="utf-8")


def write_txt(path: Path, paras: list[str]) -> None:
    """Heading line, blank line, paragraphs separated by blank lines."""
    path.write_text(HEADING + "\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")


WRITERS = {"pdf": write_pdf, "docx": write_docx, "html": write_html, "txt": write_txt}


def scores(predicted: list[set[str]], truth: list[set[str]], auto: np.ndarray) -> dict[str, float]:
    """Exact set match, sector accuracy, micro-F1, auto-coded share and the exact set match of the auto-coded."""
    exact = np.array([p == g for p, g in zip(predicted, truth, strict=True)])
    sector = np.array([{c for c in p if c.startswith("sector:")} == {c for c in g if c.startswith("sector:")}
                       for p, g in zip(predicted, truth, strict=True)])
    tp = sum(len(p & g) for p, g in zip(predicted, truth, strict=True))
    micro = 2 * tp / max(1, sum(map(len, predicted)) + sum(map(len, truth)))
    return {"n": len(truth), "exact": float(exact.mean()), "sector": float(sector.mean()), "micro_f1": float(micro),
            "auto_share": float(auto.mean()), "auto_exact": float(exact[auto].mean()) if auto.any() else float("nan")}


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: split, write the documents, train, code, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=400, help="companies drawn (train + test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--min-train", type=int, default=5, help="training companies an industry group needs to be kept")
    parser.add_argument("--target", type=float, default=0.95, help="the Cascade's target accuracy for auto-coding")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    command = " ".join(["python -m benchmarks.documents", *(sys.argv[1:] if argv is None else argv)])

    train, test = load_split(args.data, args.companies, args.seed, args.test_share, args.min_train)
    truth = [set(gold(r)) for r in test.itertuples()]
    print(f"{len(train)} train / {len(test)} test companies, {train.sector.nunique()} sectors, "
          f"{train.industry_group.nunique()} industry groups", flush=True)

    encoder = get_encoder("minilm")
    labels = [gold(r) for r in train.itertuples()]
    codebook = codebook_from_codes(sorted({c for cs in labels for c in cs}), codebook_id="companies-sector-group",
                                   multi_label=True)
    start = time.perf_counter()
    cascade = Cascade(encoder, codebook, target_accuracy=args.target, multi_label=True).fit(list(train.summary), labels)
    fit_s = time.perf_counter() - start
    print(f"fitted in {fit_s:.0f}s", flush=True)

    results: dict[str, dict[str, float]] = {}
    encoder.clear_cache()
    start = time.perf_counter()
    plain = cascade.predict(list(test.summary))
    plain_s = time.perf_counter() - start
    results["plain text (cascade.predict)"] = {
        **scores([set(p.codes) for p in plain], truth, np.array([not p.needs_review for p in plain])),
        "rate": len(plain) / plain_s, "seconds": plain_s}
    print(f"plain text: {plain_s:.1f}s", flush=True)

    extraction: dict[str, dict[str, float]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="autocode-docs-bench-") as tmp:
        folder = Path(tmp)
        paths: dict[str, list[Path]] = {f: [] for f in FORMATS}
        start = time.perf_counter()
        for i, summary in enumerate(test.summary):
            paras = paragraphs(summary)
            for fmt in FORMATS:
                path = folder / fmt / f"{i:05d}.{fmt}"
                path.parent.mkdir(exist_ok=True)
                WRITERS[fmt](path, paras)
                paths[fmt].append(path)
        print(f"wrote {len(test) * len(FORMATS)} documents in {time.perf_counter() - start:.0f}s", flush=True)

        for fmt in FORMATS:
            start = time.perf_counter()
            pages = 0
            for _, got in extract_all(paths[fmt], workers=args.workers):
                if not isinstance(got, DocumentError):
                    pages += got.pages or 1
            seconds = time.perf_counter() - start
            extraction[fmt] = {"pages": pages, "seconds": seconds, "rate": pages / seconds}

        predicted_all: list[set[str]] = []
        auto_all: list[bool] = []
        total_s = 0.0
        for fmt in FORMATS:
            encoder.clear_cache()
            run = code_documents(paths[fmt], cascade, workers=args.workers)
            failures += run.failures
            predicted = [set(filter(None, row["codes"].split("|"))) if not row["error"] else set() for row in run.rows]
            auto = np.array([not row["error"] and not row["needs_review"] for row in run.rows])
            results[fmt.upper()] = {**scores(predicted, truth, auto), "rate": len(run.rows) / run.seconds,
                                    "seconds": run.seconds, "chunks": float(np.mean([row["chunks"] or 0 for row in run.rows]))}
            predicted_all += predicted
            auto_all += list(auto)
            total_s += run.seconds
            print(f"{fmt}: {run.seconds:.1f}s, {run.failed} failed", flush=True)
        results["all documents"] = {**scores(predicted_all, truth * len(FORMATS), np.array(auto_all)),
                                    "rate": len(predicted_all) / total_s, "seconds": total_s}

    baseline = results["plain text (cascade.predict)"]["rate"]
    print(f"\n`{command}`: {len(train)} training / {len(test)} test companies, "
          f"{len(codebook.labels)} codes (sectors + industry groups), Cascade fitted in {fit_s:.0f}s, target {args.target}\n")
    print("| input | docs | exact set match | sector accuracy | micro-F1 | auto-coded share | exact when auto-coded "
          "| chunks/doc | docs/s | vs plain text |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        chunks = f"{r['chunks']:.2f}" if "chunks" in r else ""
        print(f"| {name} | {r['n']} | {r['exact']:.3f} | {r['sector']:.3f} | {r['micro_f1']:.3f} | {r['auto_share']:.3f} | "
              f"{r['auto_exact']:.3f} | {chunks} | {r['rate']:.1f} | {r['rate'] / baseline:.2f}x |")
    print(f"\n| extraction (extract_all, workers={args.workers}) | documents | pages | seconds | pages/s |")
    print("|---|---|---|---|---|")
    for fmt, e in extraction.items():
        print(f"| {fmt.upper()} | {len(test)} | {e['pages']} | {e['seconds']:.1f} | {e['rate']:.1f} |")
    if failures:
        print(f"\n{len(failures)} documents could not be read; first: {failures[0]}")


if __name__ == "__main__":
    main()
