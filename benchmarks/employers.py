"""Employer resolution on a hold-out built from the reference data: known employers written informally, unseen ones.

    python -m benchmarks.employers                 # seed 0, 2000 known + 2000 unseen queries
    python -m benchmarks.employers --limit 500     # quicker
    python -m benchmarks.employers --fit           # also print the fitted parameters as Python

Split: listed companies with a sector are split 80/20 by record (seeded). The resolver's reference is
every university and airline plus the 80%; the 20% are "unseen". Parameters (match coefficients, the
acceptance threshold, confidence knots) are fitted on a second split *inside* the 80% (64/16), never
on the 20%. Known queries are informal variants of reference records, written by rules of this file
(lower case, typo, acronym, first words, abbreviations, a place appended), not by the alias rules.
The name index over the whole gazetteer is encoded once and cached (AUTOCODE_HOME or the temp folder).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from autocode.classifiers.calibration import Calibrator
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.classifiers.employers.match import DEFAULT_PARAMS, FEATURES, ResolverParams
from autocode.classifiers.employers.names import match_key, strip_legal_form
from autocode.classifiers.employers.resolver import EmployerResolver
from autocode.classifiers.thresholds import choose_threshold
from autocode.embeddings import Encoder, VectorIndex, get_encoder

_ABBREV = {"international": "Intl", "corporation": "Corp", "technology": "Tech", "technologies": "Tech",
           "manufacturing": "Mfg", "industries": "Inds", "company": "Co", "and": "&", "&": "and",
           "limited": "Ltd", "development": "Dev", "management": "Mgmt", "holdings": "Hldgs", "group": "Grp",
           "university": "Univ", "pharmaceutical": "Pharma", "pharmaceuticals": "Pharma", "engineering": "Eng"}
_DROP = {"group", "holdings", "holding", "corporation", "company", "co", "inc", "ltd", "limited", "plc", "the"}
_STOP = {"of", "and", "the", "de", "&", "for", "in"}


def _core(name: str) -> str:
    return re.sub(r"\s*\([^()]*\)", "", strip_legal_form(name)[0] or name).strip() or name


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 2)
    op = rng.choice(("swap", "drop", "double"))
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i + 1 :] if op == "drop" else word[:i] + word[i] + word[i:]


def informal_variant(row: pd.Series, rng: random.Random, acronym_ok: bool, country_name: str) -> tuple[str, str]:
    """One informal way of writing a record's name, and the rule that made it."""
    core = _core(row["name"])
    words = core.split()
    options = ["lower", "drop_generic", "abbrev"]
    if any(len(w) >= 6 for w in words):
        options.append("typo")
    content = [w for w in words if w.casefold() not in _STOP]
    initials = "".join(w[0] for w in content if w[:1].isalpha()).upper()
    if acronym_ok and 3 <= len(initials) <= 5 and len(content) == len(initials):
        options.append("acronym")
    if len(content) >= 3 and words[1].casefold() not in _STOP and words[0].casefold() not in _STOP:
        options.append("first_words")
    if row["city"] or country_name:
        options.append("place")
    rule = rng.choice(options)
    if rule == "lower":
        return core.lower(), rule
    if rule == "drop_generic":
        kept = [w for w in words if w.casefold().strip(".,") not in _DROP] or words
        return " ".join(kept).lower() if rng.random() < 0.5 else " ".join(kept), rule
    if rule == "abbrev":
        return " ".join(_ABBREV.get(w.casefold(), w) for w in words), rule
    if rule == "typo":
        i = rng.choice([j for j, w in enumerate(words) if len(w) >= 6])
        return " ".join([*words[:i], _typo(words[i], rng), *words[i + 1:]]), rule
    if rule == "acronym":
        return initials, rule
    if rule == "first_words":
        return " ".join(words[:2]), rule
    place = row["city"] if row["city"] and rng.random() < 0.5 else country_name
    return f"{core} {place}", rule


def _equivalent(gaz: pd.DataFrame) -> dict[int, str]:
    # Two listings of one company (share classes, other exchanges, at times another country) are one employer.
    return {int(r): match_key(_core(n)).replace(" ", "") for r, n in zip(gaz.record_id, gaz.name, strict=True)}


def make_queries(gaz: pd.DataFrame, known_from: pd.DataFrame, unseen: pd.DataFrame, n_known: int, n_unseen: int,
                 seed: int) -> pd.DataFrame:
    """Known (informal variants of reference records) and unseen (held-out names, as written and informal)."""
    rng = random.Random(seed)
    m49 = load_codebook("m49")
    acronyms = pd.Series([
        "".join(w[0] for w in _core(n).split() if w.casefold() not in _STOP and w[:1].isalpha()).upper()
        for n in gaz.name
    ]).value_counts()
    rows = []
    sample = known_from.sample(min(n_known, len(known_from)), random_state=seed)
    for _, row in sample.iterrows():
        words = [w for w in _core(row["name"]).split() if w.casefold() not in _STOP and w[:1].isalpha()]
        ok = acronyms.get("".join(w[0] for w in words).upper(), 0) == 1
        country = m49.get(row["country"]).name if row["country"] in m49 else ""
        text, rule = informal_variant(row, rng, ok, country)
        rows.append(("known", rule, text, int(row["record_id"])))
    sample = unseen.sample(min(n_unseen, len(unseen)), random_state=seed)
    for i, (_, row) in enumerate(sample.iterrows()):
        if i % 2 == 0:
            rows.append(("unseen", "as_written", row["name"], int(row["record_id"])))
        else:
            core = _core(row["name"])
            kept = [w for w in core.split() if w.casefold() not in _DROP] or core.split()
            rows.append(("unseen", "informal", " ".join(kept).lower(), int(row["record_id"])))
    return pd.DataFrame(rows, columns=["set", "rule", "text", "record_id"])


def full_index(encoder: Encoder, gaz: pd.DataFrame, cache: Path) -> Path:
    """The folder of the name index over the whole gazetteer, encoded once and cached."""
    path = cache / f"employer-names-{encoder.key}"
    if not path.exists():
        print(f"encoding the gazetteer's names once (cached in {path}) ...", flush=True)
        EmployerResolver(encoder, gaz).fit().name_index_.save(path)
    return path


def evaluate(resolver: EmployerResolver, queries: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Resolve every query and record, per query, what was right."""
    results = resolver.resolve(list(queries.text))
    equiv = _equivalent(truth)
    out = []
    for (_, q), r in zip(queries.iterrows(), results, strict=True):
        t = truth.loc[q.record_id]
        same = r.record_id == q.record_id or (r.record_id is not None and equiv.get(r.record_id) == equiv[q.record_id])
        basis = next((e.code for e in r.evidence if e.kind == "country_basis"), None)
        cue = next((e.text for e in r.evidence if e.kind == "country_basis"), "")
        raw_sector = next((e.score for e in r.evidence if e.kind == "sector"), None)
        raw_country = next((e.score for e in r.evidence if e.kind == "country_basis"), None)
        out.append({
            "set": q.set, "rule": q.rule, "kind": r.kind, "accepted": r.kind == "match", "same": same,
            "p": r.match_score, "section_ok": r.isic_section == t.isic_section,
            "division_ok": r.isic_division == t.isic_division, "country_ok": r.country == t.country,
            "region_ok": r.region == t.region, "cue": cue if basis else "", "raw_sector": raw_sector,
            "raw_country": raw_country, "auto": not r.needs_review, "sector_conf": r.field_confidence["sector"],
            "country_conf": r.field_confidence["country"],
        })
    return pd.DataFrame(out)


def _knots(raw: np.ndarray, ok: np.ndarray, n: int = 8) -> tuple[tuple[float, float], ...]:
    # Smoothed isotonic calibration (a block of 12 right answers says 0.93, not 1.0), read at a few
    # quantiles so a handful of knots can live in code.
    if len(raw) < 20:
        rate = (ok.sum() + 1) / (len(ok) + 2)
        return ((0.0, round(float(rate), 4)), (1.0, round(float(rate), 4)))
    cal = Calibrator.fit(raw, ok)
    xs = np.unique(np.quantile(raw, np.linspace(0, 1, n)))
    return tuple((round(float(x), 4), round(float(y), 4)) for x, y in zip(xs, cal(xs), strict=True))


def fit_params(resolver: EmployerResolver, queries: pd.DataFrame, truth: pd.DataFrame) -> ResolverParams:
    """Fit the match model, threshold and confidence knots on calibration queries."""
    feats = resolver.candidate_features(list(queries.text))
    equiv = _equivalent(truth)
    x, y, group = [], [], []
    for i, (cands, rid) in enumerate(zip(feats, queries.record_id, strict=True)):
        for cand, row in cands:
            x.append(row)
            y.append(cand == rid or equiv.get(cand) == equiv[rid])
            group.append(i)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.asarray(x), np.asarray(y))
    identity = ((0.0, 0.0), (1.0, 1.0))
    params = ResolverParams(
        coef=tuple(round(float(c), 4) for c in model.coef_[0]), intercept=round(float(model.intercept_[0]), 4),
        accept_threshold=0.5, sector_knots=identity,
        country_knots=dict.fromkeys(DEFAULT_PARAMS.country_knots, identity), fitted_on="calibration split",
    )
    resolver.params = params
    resolver.accept_threshold = 0.0  # every best candidate "accepted", to read its probability and truth
    ev = evaluate(resolver, queries, truth)
    cut = choose_threshold(ev.p.to_numpy(), ev.same.to_numpy(), 0.95)
    resolver.accept_threshold = 1.01  # nothing accepted: read the inference on every query
    inf = evaluate(resolver, queries[queries.set == "unseen"], truth)
    country_knots = {}
    for kind in DEFAULT_PARAMS.country_knots:
        part = inf[inf.cue == kind]
        country_knots[kind] = _knots(part.raw_country.to_numpy(float), part.country_ok.to_numpy(float), 4) \
            if len(part) >= 20 else DEFAULT_PARAMS.country_knots[kind]
    return replace(params, accept_threshold=round(max(cut["threshold"], 0.05), 4),
                   sector_knots=_knots(inf.raw_sector.to_numpy(float), inf.section_ok.to_numpy(float)),
                   country_knots=country_knots)


def known_pool(ref: pd.DataFrame) -> pd.DataFrame:
    """Records a known query may be drawn from: every university and airline, companies with a sector."""
    return ref[(ref.source != "companies") | (ref.isic_section != "")]


def _pct(x: pd.Series) -> str:
    return f"{x.mean():.3f}" if len(x) else "  -  "


def report(ev: pd.DataFrame, baseline: float, timing: dict[str, float]) -> None:
    """Print the table."""
    known, unseen = ev[ev.set == "known"], ev[ev.set == "unseen"]
    acc = known[known.accepted]
    print(f"\nknown employers (informal variants of reference records), n={len(known)}")
    print(f"  top-1 record accuracy (best candidate)   {_pct(known.same)}")
    print(f"  accepted share at threshold              {_pct(known.accepted)}")
    print(f"  precision among accepted                 {_pct(acc.same)}")
    for rule, part in known.groupby("rule"):
        print(f"    {rule:14} n={len(part):4}  top-1 {_pct(part.same)}  accepted {_pct(part.accepted)}"
              f"  precision {_pct(part[part.accepted].same)}")
    print(f"\nunseen employers (held-out 20% of companies), n={len(unseen)}")
    print(f"  wrongly matched to another record        {_pct(unseen.accepted & ~unseen.same)}")
    print(f"  sector: ISIC section accuracy            {_pct(unseen.section_ok)}"
          f"   (naive MiniLM kNN k=1: {baseline:.3f})")
    print(f"  sector: ISIC division accuracy           {_pct(unseen.division_ok)}")
    for rule, part in unseen.groupby("rule"):
        print(f"    {rule:14} n={len(part):4}  section {_pct(part.section_ok)}  division {_pct(part.division_ok)}"
              f"  country {_pct(part.country_ok)}")
    cued = unseen[unseen.cue.isin(["country", "demonym", "code", "domain", "city", "town", "word", "legal_form"])]
    print(f"  country accuracy, overall                {_pct(unseen.country_ok)}")
    print(f"  country accuracy where a cue exists      {_pct(cued.country_ok)}  (n={len(cued)})")
    print(f"  region accuracy, overall                 {_pct(unseen.region_ok)}")
    auto = unseen[unseen.auto]
    print(f"  auto-coded share                         {_pct(unseen.auto)}")
    print(f"  among auto-coded: section / country      {_pct(auto.section_ok)} / {_pct(auto.country_ok)}")
    inf = unseen[unseen.kind == "inferred"]
    print(f"  inferred rows: auto-coded share          {_pct(inf.auto)}  (section / country right "
          f"{_pct(inf[inf.auto].section_ok)} / {_pct(inf[inf.auto].country_ok)})")
    sec_auto = unseen[unseen.sector_conf >= 0.9]
    print(f"  sector confidence >= 0.9: share, acc.    {_pct(unseen.sector_conf >= 0.9)} / {_pct(sec_auto.section_ok)}")
    print(f"\nall queries: auto-coded share {_pct(ev.auto)}; accepted matches right {_pct(ev[ev.accepted].same)}")
    print("timings: " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=2000, help="known and unseen queries each (default 2000)")
    ap.add_argument("--fit", action="store_true", help="print the fitted parameters as Python")
    args = ap.parse_args(argv)
    t0 = time.time()
    encoder = get_encoder("minilm")
    gaz = load_gazetteer().set_index("record_id", drop=False)
    cache = Path(os.environ.get("AUTOCODE_HOME") or tempfile.gettempdir()) / "benchmark-cache"
    cache.mkdir(parents=True, exist_ok=True)
    index_path = full_index(encoder, gaz.reset_index(drop=True), cache)
    rng = np.random.default_rng(args.seed)
    companies = gaz[(gaz.source == "companies") & (gaz.isic_section != "")].record_id.to_numpy()
    perm = rng.permutation(companies)
    test_ids = set(perm[: len(perm) // 5].tolist())
    calib_unseen = set(perm[len(perm) // 5 : 2 * len(perm) // 5].tolist())
    reference = gaz[~gaz.record_id.isin(test_ids)]
    calib_ref = reference[~reference.record_id.isin(calib_unseen)]
    n_cal = 1500  # calibration queries of each set, whatever --limit says: the fit wants them
    t = time.time()
    cal = EmployerResolver(encoder, calib_ref.reset_index(drop=True), name_index=VectorIndex.load(index_path)).fit()
    cal_q = make_queries(calib_ref, known_pool(calib_ref), gaz.loc[list(calib_unseen)], n_cal, n_cal, args.seed + 1)
    params = fit_params(cal, cal_q, gaz)
    t_cal = time.time() - t
    t = time.time()
    res = EmployerResolver(encoder, reference.reset_index(drop=True), name_index=VectorIndex.load(index_path),
                           params=params).fit()
    t_fit = time.time() - t
    queries = make_queries(reference, known_pool(reference), gaz.loc[list(test_ids)], args.limit, args.limit, args.seed)
    t = time.time()
    ev = evaluate(res, queries, gaz)
    t_resolve = time.time() - t
    t = time.time()
    res.resolve(list(queries.text))  # again, with every text's vector cached: the matching alone
    t_warm = time.time() - t
    # The naive baseline: the section of the nearest reference name (MiniLM, k=1).
    unseen = queries[queries.set == "unseen"]
    vecs = encoder.encode(list(unseen.text))
    _, vids = res.name_index_.search(vecs, 1)
    nearest = [res.row_ids_.get(int(v)) for v in vids[:, 0]]
    baseline = float(np.mean([gaz.loc[n].isic_section == gaz.loc[r].isic_section
                              for n, r in zip(nearest, unseen.record_id, strict=True)]))
    timing = {"calibration s": t_cal, "fit s": t_fit, "resolve s": t_resolve,
              "resolve texts/s": len(queries) / t_resolve,
              "texts/s without encoding": len(queries) / t_warm, "total s": time.time() - t0}
    print(f"seed {args.seed}: reference {len(reference)} records, unseen pool {len(test_ids)}; "
          f"threshold {params.accept_threshold} (fitted on the calibration split)")
    report(ev, baseline, timing)
    if args.fit:
        print("\n# paste into classifiers/employer_match.py")
        print(f"DEFAULT_PARAMS = {params!r}")
        print("# features:", FEATURES)


if __name__ == "__main__":
    main()
