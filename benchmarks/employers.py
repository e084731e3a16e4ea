"""Employer resolution measured on records the shipped gazetteer never contains (classifiers/employers/holdout.py).

    python -m benchmarks.employers                 # seed 0, the figures on the "test" part
    python -m benchmarks.employers --limit 500     # quicker
    python -m benchmarks.employers --fit           # fit the parameters on the "calibrate" part and print them
    python -m benchmarks.employers --leaks         # only check that no held-out record is in the shipped gazetteer
    python -m benchmarks.employers --confidence    # rewrite data/employers/confidence.csv from the calibrate part

Reference: the shipped gazetteer as it is (load_gazetteer()), which keeps only the "gazetteer" part (80%) of
../shared's companies and organisations. Unseen queries are the held-out companies and organisations of
../shared: part "calibrate" (10%) to fit on, part "test" (10%) for the figures; their true ISIC section and
division, GICS sector and country come from the gazetteer build's own code (scripts/gazetteer: the same builders,
run with that part let in). Known queries are informal variants of shipped records, written by rules of this file
(lower case, typo, acronym, first words, abbreviations, a place appended), not by the alias rules, with a different
seed for calibration and test. Held-out organisations are queried only where their ROR type states the sector
(education, healthcare, government, facility, archive, nonprofit, funder): for a "company" record the build guesses
the section from the name's words, which is no truth to measure against. --fit fits ResolverParams on the calibrate
queries only (match coefficients and the acceptance threshold, thresholds.choose_threshold's point-estimate rule, on
all of them; sector and country knots on the unseen companies); --confidence resolves the calibrate queries with the
shipped parameters and writes the row confidence table (classifiers/employers/confidence.py) from them; the figures
are always read on the test queries.
The name index over the whole gazetteer is encoded once and cached (AUTOCODE_HOME or the temp folder).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from autocode.classifiers.calibration import Calibrator
from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.employers.confidence import CONFIDENCE_TABLE, RowConfidence, load_table
from autocode.classifiers.employers.gazetteer import load_gazetteer
from autocode.classifiers.employers.holdout import part_of
from autocode.classifiers.employers.match import DEFAULT_PARAMS, FEATURES, ResolverParams
from autocode.classifiers.employers.names import match_key, strip_legal_form
from autocode.classifiers.employers.resolver import EmployerResolver
from autocode.classifiers.thresholds import accuracy_lower_bound, choose_threshold
from autocode.embeddings import Encoder, VectorIndex, get_encoder
from autocode.embeddings.durable import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TRUTH = ["record_id", "name", "source", "city", "isic_section", "isic_division", "gics_sector", "country",
         "region", "group"]
# Bumped when held_out()'s frame changes shape, so an older cache is not read.
HOLDOUT_FORMAT = "2: basis"
# ROR types reported apart (the type that gave the record its ISIC section, holdout organisations only).
ORG_GROUPS = {"ror_type:education": "education", "ror_type:healthcare": "healthcare",
              "ror_type:government": "government"}

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


# --- the held-out records, with the fields the gazetteer build would have given them ---------------------------


def _build_modules() -> dict[str, ModuleType]:
    """scripts/gazetteer's builders, imported the way scripts/build_gazetteer.py imports them."""
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    import build_gazetteer
    from gazetteer import common, companies, merge, organisations

    return {"build": build_gazetteer, "common": common, "companies": companies, "merge": merge,
            "organisations": organisations}


@contextmanager
def _letting_in(module: ModuleType, parts: set[str]) -> Iterator[None]:
    """While inside, `module`'s holdout.part_of answers "gazetteer" for the held-out `parts` too."""
    real = module.part_of
    module.part_of = lambda source, key: "gazetteer" if real(source, key) in parts else real(source, key)
    try:
        yield
    finally:
        module.part_of = real


def held_out(shared: Path = SHARED) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """Held-out companies and organisations (column `part`: calibrate or test) with their true fields, and the
    (name key, ISO2) of every company the build held out.

    The builders are run as the build runs them, once with one part let in: the records that appear are that
    part's, with the section, division, GICS sector and country the build gives (a company with rows in both
    held-out parts, another share class, is in neither, so calibration and test never share a company).
    """
    mods = _build_modules()
    common, companies, organisations = mods["common"], mods["companies"], mods["organisations"]
    geo = common.Geo(load_codebook("m49"))
    sectors = common.Sectors(load_codebook("gics"), load_codebook("isic4"))
    base, held_keys = companies.build_companies(shared / "companies.csv", geo, sectors, {})
    frames = []
    for part in ("calibrate", "test"):
        with _letting_in(companies, {part}):
            frame, _ = companies.build_companies(shared / "companies.csv", geo, sectors, {})
        frames.append(frame[~frame["record_id"].isin(base["record_id"])].assign(part=part, group="company"))
    with _letting_in(organisations, {"calibrate", "test"}):
        orgs, _ = organisations.build_organisations(shared / "organisations.csv", geo, {})
    orgs["part"] = [part_of("organisations", rid) for rid in orgs["source_id"]]
    orgs = orgs[orgs["part"] != "gazetteer"]
    orgs = orgs.assign(group=[ORG_GROUPS.get(b, "other") for b in orgs["isic_basis"]], basis=orgs["isic_basis"])
    frames.append(orgs)
    rows = pd.concat(frames, ignore_index=True).to_dict("records")
    mods["build"].fill_gics_from_isic([r for r in rows if r["source"] == "companies"], True)
    mods["build"].fill_gics_from_isic([r for r in rows if r["source"] == "organisations"], False)
    frame = pd.DataFrame(rows)
    frame["basis"] = frame["basis"].fillna("source")  # companies: the source's own industry
    return frame[[*TRUTH, "domain", "part", "basis"]], held_keys


def held_out_cached(cache: Path, shared: Path = SHARED) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """held_out(), kept in `cache` under a hash of everything it reads (the two CSV files, the builders, their tables)."""
    digest = hashlib.sha256(HOLDOUT_FORMAT.encode())
    inputs = [shared / "companies.csv", shared / "organisations.csv", *sorted((REPO / "scripts").rglob("*.py")),
              *sorted((REPO / "data" / "crosswalks").glob("*")), *sorted((REPO / "data" / "employers").glob("*.csv"))]
    for path in inputs:
        digest.update(path.name.encode() + path.read_bytes())
    path = cache / f"employer-holdout-{digest.hexdigest()[:16]}.pkl"
    if path.exists():
        with path.open("rb") as handle:
            return pickle.load(handle)  # our own cache file, written below
    out = held_out(shared)
    with path.open("wb") as handle:
        pickle.dump(out, handle)
    return out


def leak_check(gaz: pd.DataFrame, held: pd.DataFrame, held_keys: set[tuple[str, str]],
               shared: Path = SHARED) -> tuple[dict[str, list[str]], set[int]]:
    """Shipped records that are held out (by their own split key, or naming a held-out company or organisation, or
    on a held-out company's web host), and the held-out records so named: they are not unseen, so never queries."""
    merge = _build_modules()["merge"]
    is_held = merge.is_held
    raw = pd.read_csv(shared / "companies.csv", dtype=str, keep_default_na=False)
    record_id = _build_modules()["common"].record_id
    company_part = {record_id("companies", n.strip(), c): part_of("companies", f"{n}\x1f{c}")
                    for n, c in zip(raw["name"], raw["country"], strict=True)}
    out: dict[str, list[str]] = {"company_part": [], "ror_part": [], "names_held_company": [],
                                 "web_host_of_held_company": [], "names_held_organisation": []}
    companies = held[held.source == "companies"]
    held_hosts = {h: n for n, d in zip(companies.name, companies.domain, strict=True) for h in d.split("|") if h}
    by_host: dict[str, set[int]] = {}
    for rid, domain in zip(companies.record_id, companies.domain, strict=True):
        for host in filter(None, domain.split("|")):
            by_host.setdefault(host, set()).add(int(rid))
    by_key: dict[tuple[str, str], set[int]] = {}
    for rid, name, country in zip(held.record_id, held.name, held.country, strict=True):
        by_key.setdefault((match_key(name), country), set()).add(int(rid))
        by_key.setdefault((match_key(name), ""), set()).add(int(rid))
    leaked: set[int] = set()
    org_keys = {(match_key(n), c) for n, c in zip(held.loc[held.source == "organisations", "name"],
                                                 held.loc[held.source == "organisations", "country"], strict=True)}
    for r in gaz.itertuples(index=False):
        label = f"{r.source}: {r.name} ({r.country})"
        if r.source == "companies" and company_part.get(int(r.record_id), "gazetteer") != "gazetteer":
            out["company_part"].append(label)
        if re.fullmatch(r"0[a-z0-9]{8}", r.source_id or "") and part_of("organisations", r.source_id) != "gazetteer":
            out["ror_part"].append(label)
        row = {"name": r.name, "_kept": list(r.aliases), "country": r.country}
        for key in merge.full_keys(row):
            leaked |= by_key.get((key, r.country), set())
        for host in filter(None, r.domain.split("|")):
            leaked |= by_host.get(host, set())
        if is_held(row, held_keys, {k for k, _ in held_keys}):
            out["names_held_company"].append(label)
        shared_host = next((h for h in r.domain.split("|") if h in held_hosts), "")
        if shared_host:
            out["web_host_of_held_company"].append(f"{label} = {held_hosts[shared_host]} ({shared_host})")
        if r.source != "universities" and (match_key(r.name), r.country) in org_keys:
            out["names_held_organisation"].append(label)
    return out, leaked


# --- queries --------------------------------------------------------------------------------------------------


def make_queries(gaz: pd.DataFrame, unseen: pd.DataFrame, n_known: int, n_unseen: int, seed: int) -> pd.DataFrame:
    """Known (informal variants of shipped records, more of them airlines and universities) and unseen (held-out
    companies and organisations, half as written and half informal)."""
    rng = random.Random(seed)
    m49 = load_codebook("m49")
    acronyms = pd.Series([
        "".join(w[0] for w in _core(n).split() if w.casefold() not in _STOP and w[:1].isalpha()).upper()
        for n in gaz.name
    ]).value_counts()
    pool = known_pool(gaz)
    sample = pd.concat([
        pool.sample(min(n_known, len(pool)), random_state=seed),
        *(pool[pool.source == s].sample(min(n_known // 8, int((pool.source == s).sum())), random_state=seed)
          for s in ("airlines", "universities")),
    ]).drop_duplicates("record_id")
    rows = []
    for _, row in sample.iterrows():
        words = [w for w in _core(row["name"]).split() if w.casefold() not in _STOP and w[:1].isalpha()]
        ok = acronyms.get("".join(w[0] for w in words).upper(), 0) == 1
        country = m49.get(row["country"]).name if row["country"] in m49 else ""
        text, rule = informal_variant(row, rng, ok, country)
        rows.append(("known", rule, text, int(row["record_id"])))
    companies = unseen[(unseen.source == "companies") & (unseen.isic_section != "")]
    # Only organisations whose ROR type states the sector: a "company" or "other" record's section is our own guess from
    # its name's words (or empty), so it cannot be the truth ("Pernod Ricard (France)" would count its beverages wrong).
    orgs = unseen[(unseen.source == "organisations") & unseen.basis.str.startswith("ror_type:")]
    sample = pd.concat([companies.sample(min(n_unseen, len(companies)), random_state=seed),
                        orgs.sample(min(n_unseen, len(orgs)), random_state=seed)])
    for i, (_, row) in enumerate(sample.iterrows()):
        if i % 2 == 0:
            rows.append(("unseen", "as_written", row["name"], int(row["record_id"])))
        else:
            core = _core(row["name"])
            kept = [w for w in core.split() if w.casefold() not in _DROP] or core.split()
            rows.append(("unseen", "informal", " ".join(kept).lower(), int(row["record_id"])))
    return pd.DataFrame(rows, columns=["set", "rule", "text", "record_id"])


def full_index(encoder: Encoder, gaz: pd.DataFrame, cache: Path) -> Path:
    """The folder of the name index over the whole shipped gazetteer, encoded once and cached."""
    path = cache / f"employer-names-{encoder.key}"
    if not path.exists():
        print(f"encoding the gazetteer's names once (cached in {path}) ...", flush=True)
        EmployerResolver(encoder, gaz, row_confidence=RowConfidence.fit({}, 0.95)).fit().name_index_.save(path)
    return path


def evaluate(resolver: EmployerResolver, queries: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Resolve every query and record, per query, what was right (`truth`: rows by record_id)."""
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
        raw_row = next((e.score for e in r.evidence if e.kind == "calibration"), r.confidence)
        out.append({
            "set": q.set, "rule": q.rule, "source": t.source, "group": t.group, "kind": r.kind,
            "accepted": r.kind == "match", "same": same, "p": r.match_score,
            "section_ok": r.isic_section == t.isic_section, "division_ok": r.isic_division == t.isic_division,
            "division": r.isic_division, "gics_known": bool(t.gics_sector), "gics_ok": r.gics_sector == t.gics_sector,
            "country_ok": r.country == t.country, "region_ok": r.region == t.region, "cue": cue if basis else "",
            "raw_sector": raw_sector, "raw_country": raw_country, "auto": not r.needs_review,
            "sector_conf": r.field_confidence["sector"], "country_conf": r.field_confidence["country"],
            "raw_row": raw_row, "confidence": r.confidence,
            "table_group": "known" if q.set == "known" else str(t.source),
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


def fit_params(resolver: EmployerResolver, queries: pd.DataFrame, truth: pd.DataFrame, fitted_on: str
               ) -> ResolverParams:
    """Fit the match model and threshold on all calibration queries, the confidence knots on the unseen companies."""
    feats = resolver.candidate_features(list(queries.text))
    equiv = _equivalent(truth)
    x, y = [], []
    for cands, rid in zip(feats, queries.record_id, strict=True):
        for cand, row in cands:
            x.append(row)
            y.append(cand == rid or equiv.get(cand) == equiv[rid])
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.asarray(x), np.asarray(y))
    identity = ((0.0, 0.0), (1.0, 1.0))
    params = ResolverParams(
        coef=tuple(round(float(c), 4) for c in model.coef_[0]), intercept=round(float(model.intercept_[0]), 4),
        accept_threshold=0.5, sector_knots=identity,
        country_knots=dict.fromkeys(DEFAULT_PARAMS.country_knots, identity), fitted_on=fitted_on,
    )
    resolver.params = params
    resolver.accept_threshold = 0.0  # every best candidate "accepted", to read its probability and truth
    ev = evaluate(resolver, queries, truth)
    # Match or guess: the point-estimate rule (~95% of accepted best candidates right). No guarantee here: an unseen
    # organisation with a shipped one's exact name tops the list, and the guaranteed walk would accept nothing. What
    # is auto-coded is decided by the row confidence (classifiers/employers/confidence.py), with the guarantee.
    cut = choose_threshold(ev.p.to_numpy(), ev.same.to_numpy(), 0.95, level=None)
    resolver.accept_threshold = 1.01  # nothing accepted: read the inference on every query
    inf = evaluate(resolver, queries[queries.set == "unseen"], truth)
    # The knots are read on the unseen companies alone: a registry name ("... Hospital") is right at scores where a
    # company's is not, and a blend would make the companies' auto-coding overconfident.
    inf = inf[inf.source == "companies"]
    country_knots = {}
    for kind in DEFAULT_PARAMS.country_knots:
        part = inf[inf.cue == kind]
        country_knots[kind] = _knots(part.raw_country.to_numpy(float), part.country_ok.to_numpy(float), 4) \
            if len(part) >= 20 else DEFAULT_PARAMS.country_knots[kind]
    return replace(params, accept_threshold=round(max(cut["threshold"], 0.05), 4),
                   sector_knots=_knots(inf.raw_sector.to_numpy(float), inf.section_ok.to_numpy(float)),
                   country_knots=country_knots)


def write_confidence_table(ev: pd.DataFrame, path: Path, args: argparse.Namespace, target: float) -> RowConfidence:
    """Write the row confidence table (kind, group, raw, right) of resolved calibrate queries, atomically; its fit."""
    right = (ev.section_ok & ev.country_ok).astype(int)
    table = pd.DataFrame({"kind": np.where(ev.accepted, "match", "inferred"), "group": ev.table_group,
                          "raw": ev.raw_row.astype(float).round(4), "right": right})
    header = (f"# Written by `python -m benchmarks.employers --confidence --seed {args.seed} --calibrate "
              f"{args.calibrate}`: one line per query of the held-out 'calibrate'\n# part (records the gazetteer does "
              "not hold), resolved with the shipped parameters. raw: the row's raw confidence; right: 1 when its ISIC "
              "section\n# and country were both right. Read by classifiers/employers/confidence.py. No names: scores only.\n")
    write_text_atomic(path, header + table.to_csv(index=False, lineterminator="\n"))
    fitted = RowConfidence.fit(load_table(path), target)  # read back as the resolver reads it
    for kind in fitted.cuts:
        groups = ", ".join(f"{g} {c['threshold']:.4f}" for g, c in fitted.choices[kind].items())
        print(f"confidence table {path.name}: {kind}: auto-coding cut at {target} {fitted.cuts[kind]:.4f} ({groups})")
    return fitted


def known_pool(ref: pd.DataFrame) -> pd.DataFrame:
    """Records a known query may be drawn from: every record with a sector."""
    return ref[ref.isic_section != ""]


# --- the table ------------------------------------------------------------------------------------------------


def _rate(x: pd.Series) -> float | None:
    return float(x.mean()) if len(x) else None


def _line(label: str, x: pd.Series, target: float | None = None, note: str = "") -> bool | None:
    """Print one figure (with its n and target); returns whether the target is met (None: no target)."""
    rate = _rate(x)
    shown = f"{rate:.3f}" if rate is not None else "  -  "
    met = None if target is None or rate is None else rate >= target
    goal = f"target >= {target:.2f}  {'met' if met else 'MISSED'}" if target is not None and rate is not None else ""
    print(f"  {label:52} {shown}  n={len(x):<5} {goal:24} {note}".rstrip())
    return met


def report(ev: pd.DataFrame, baseline: float, timing: dict[str, float]) -> list[str]:
    """Print the table; returns the labels of the targets missed."""
    missed: list[str] = []

    def check(label: str, x: pd.Series, target: float | None = None, note: str = "") -> None:
        if _line(label, x, target, note) is False:
            missed.append(label.strip())

    known, unseen = ev[ev.set == "known"], ev[ev.set == "unseen"]
    print(f"\nknown employers (informal variants of shipped records), n={len(known)}")
    check("right record (best candidate)", known.same, 0.97)
    check("accepted share at threshold", known.accepted)
    check("accepted matches right", known[known.accepted].same, 0.99)
    for rule, part in known.groupby("rule"):
        check(f"  {rule}: right record / accepted right", part.same,
              note=f"accepted right {_pct(part[part.accepted].same)}")
    companies = unseen[unseen.source == "companies"]
    print(f"\nunseen companies (held-out test part of ../shared companies.csv), n={len(companies)}")
    check("ISIC section top-1", companies.section_ok, 0.65, f"(naive MiniLM kNN k=1: {baseline:.3f})")
    check("ISIC division top-1", companies.division_ok)
    check("GICS sector top-1 (where the source gives one)", companies[companies.gics_known].gics_ok)
    check("country", companies.country_ok)
    check("wrongly matched to a shipped record", companies.accepted & ~companies.same)
    auto = companies[companies.auto]
    both = auto.section_ok & auto.country_ok
    check("auto-coded share (needs_review False)", companies.auto, 0.30)
    lower = accuracy_lower_bound(int(both.sum()), len(both), 0.05)
    check("auto-coded: section and country right", both, 0.95, f"one-sided 95% lower bound {lower:.3f}")
    for rule, part in companies.groupby("rule"):
        check(f"  {rule}: section", part.section_ok,
              note=f"country {_pct(part.country_ok)}  auto {_pct(part.auto)}")
    orgs = unseen[unseen.source == "organisations"]
    print(f"\nheld-out organisations (test part of ../shared organisations.csv, by ROR type), n={len(orgs)}")
    for group in ("education", "healthcare", "government", "other"):
        part = orgs[orgs.group == group]
        section_target = 0.95 if group != "other" else None
        check(f"{group}: ISIC section", part.section_ok, section_target)
        check(f"{group}: country", part.country_ok, 0.85 if group != "other" else None,
              f"auto {_pct(part.auto)}, right when auto {_pct(part[part.auto].section_ok & part[part.auto].country_ok)}")
    airlines, universities = known[known.source == "airlines"], known[known.source == "universities"]
    print("\nairlines and universities (informal variants of shipped records)")
    check("airlines: ISIC division 51", airlines.division == "51")
    check("airlines: region", airlines.region_ok)
    check("universities: country", universities.country_ok)
    print("\nrow confidence (C_confidence = P(section and country right), calibrated on the calibrate part)")
    for group, part in ev.groupby("table_group"):
        right = part.section_ok & part.country_ok
        auto = right[part.auto]
        lower = accuracy_lower_bound(int(auto.sum()), len(auto), 0.05)
        check(f"{group}: auto-coded rows right", auto, 0.95, f"lower bound {lower:.3f}; auto share {_pct(part.auto)}")
        print(f"  {'':52} mean confidence {part.confidence.mean():.3f} vs right {right.mean():.3f}; "
              f"ECE {_ece(part.confidence.to_numpy(float), right.to_numpy(float)):.3f}")
    print(f"\nall queries: auto-coded share {_pct(ev.auto)}; accepted matches right {_pct(ev[ev.accepted].same)}")
    print("timings: " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))
    print("targets missed: " + (", ".join(missed) or "none"))
    return missed


def _ece(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins."""
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return float(sum(abs(conf[which == b].mean() - right[which == b].mean()) * (which == b).sum()
                     for b in range(bins) if (which == b).any()) / max(len(conf), 1))


def _pct(x: pd.Series) -> str:
    return f"{x.mean():.3f}" if len(x) else "  -  "


def _print_leaks(leaks: dict[str, list[str]]) -> None:
    print("leak check (shipped records that are held out):")
    for kind, labels in leaks.items():
        print(f"  {kind:26} {len(labels):4}  {'; '.join(labels[:30])}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=1000,
                    help="test queries of each kind: known, unseen companies, unseen organisations (default 1000)")
    ap.add_argument("--calibrate", type=int, default=1000, help="calibration queries of each kind (default 1000)")
    ap.add_argument("--fit", action="store_true", help="fit the parameters on the calibrate part, print them as Python")
    ap.add_argument("--leaks", action="store_true", help="only run the leak check")
    ap.add_argument("--confidence", action="store_true",
                    help=f"write data/employers/{CONFIDENCE_TABLE} from the calibrate part, then report on the test part")
    ap.add_argument("--shared", type=Path, default=SHARED)
    args = ap.parse_args(argv)
    t0 = time.time()
    gaz = load_gazetteer().set_index("record_id", drop=False)
    cache = Path(os.environ.get("AUTOCODE_HOME") or tempfile.gettempdir()) / "benchmark-cache"
    cache.mkdir(parents=True, exist_ok=True)
    held, held_keys = held_out_cached(cache, args.shared)
    held = held[~held.record_id.isin(gaz.record_id)]
    leaks, leaked = leak_check(gaz, held, held_keys, args.shared)
    _print_leaks(leaks)
    if args.leaks:
        return
    print(f"held-out records named by a shipped record or on its web host, left out of the queries: {len(leaked)}")
    truth = pd.concat([gaz.assign(group=gaz.source)[TRUTH], held[TRUTH]]).set_index("record_id", drop=False)
    counts = held.groupby(["part", "source"]).size().to_dict()
    print("held out:", ", ".join(f"{p} {s} {n}" for (p, s), n in counts.items()))
    encoder = get_encoder("minilm")
    index_path = full_index(encoder, gaz.reset_index(drop=True), cache)
    t = time.time()
    # --confidence writes the table the shipped calibration reads: until then rows are read uncalibrated.
    uncalibrated = RowConfidence.fit({}, 0.95) if args.confidence else None
    res = EmployerResolver(encoder, gaz.reset_index(drop=True), name_index=VectorIndex.load(index_path),
                           row_confidence=uncalibrated).fit()
    t_fit = time.time() - t
    params = DEFAULT_PARAMS
    t_cal = 0.0
    if args.fit:
        t = time.time()
        cal_q = make_queries(gaz, held[(held.part == "calibrate") & ~held.record_id.isin(leaked)], args.calibrate, args.calibrate, args.seed + 1)
        params = fit_params(res, cal_q, truth, f"python -m benchmarks.employers --fit --seed {args.seed} "
                            f"--calibrate {args.calibrate}: holdout part 'calibrate' of companies and organisations")
        t_cal = time.time() - t
    res.params, res.accept_threshold = params, params.accept_threshold
    if args.confidence:
        # Another draw than --fit's (seed + 1): other variants of the known records, other halves written informally.
        cal_q = make_queries(gaz, held[(held.part == "calibrate") & ~held.record_id.isin(leaked)], args.calibrate,
                             args.calibrate, args.seed + 2)
        res.row_confidence_ = write_confidence_table(evaluate(res, cal_q, truth),
                                                     REPO / "data" / "employers" / CONFIDENCE_TABLE, args,
                                                     res.target_accuracy)
    queries = make_queries(gaz, held[(held.part == "test") & ~held.record_id.isin(leaked)], args.limit, args.limit, args.seed)
    t = time.time()
    ev = evaluate(res, queries, truth)
    t_resolve = time.time() - t
    # The naive baseline: the section of the nearest shipped name (MiniLM, k=1), on the unseen companies.
    unseen = queries[(queries.set == "unseen") & (ev.source == "companies").to_numpy()]
    vecs = encoder.encode(list(unseen.text))
    _, vids = res.name_index_.search(vecs, 1)
    nearest = [res.row_ids_.get(int(v)) for v in vids[:, 0]]
    baseline = float(np.mean([truth.loc[n].isic_section == truth.loc[r].isic_section
                              for n, r in zip(nearest, unseen.record_id, strict=True)]))
    timing = {"index s": t_fit, "calibration s": t_cal, "resolve s": t_resolve,
              "resolve texts/s": len(queries) / t_resolve, "total s": time.time() - t0}
    print(f"seed {args.seed}: reference = shipped gazetteer, {len(gaz)} records; test queries {len(queries)}; "
          f"threshold {params.accept_threshold}; params fitted on: {params.fitted_on}")
    report(ev, baseline, timing)
    if args.fit:
        print("\n# paste into classifiers/employers/match.py")
        print(f"DEFAULT_PARAMS = {params!r}")
        print("# features:", FEATURES)


if __name__ == "__main__":
    main()
