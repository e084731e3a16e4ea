"""A million employers: a national business register imported by a user, then looked up with informal names.

    python -m benchmarks.register                      # 1,000,000 records, 1,000 queries (10-20 min on 2 cores)
    python -m benchmarks.register --records 50000      # quicker
    python -m benchmarks.register --probe --records 100000   # how the register's vector index was chosen

The register is generated, deterministically (seed 0), from real name parts in data/: distinctive words of the
gazetteer's company and organisation names, a sector word and ISIC division taken from a real record of that
sector ("... Engineering", 71), a city of the record's country from the gazetteer (a third of the names), and a
legal form of that country from data/employers/legal_forms.csv ("Pte Ltd", "Sdn Bhd", "GmbH", "PT ...", "S.A.").
Names are unique by match key without the legal form, so each informal variant has one right record. It is
written as the CSV a user would import (name, country, isic_division, city) and imported the way a user does:
`autocode records import FILE` in a subprocess. A second subprocess then loads the resolver over the
store (`get_resolver`, which builds the register's index on the first call), and resolves, one at a time, informal
variants of known records (lower case, legal form dropped, abbreviations, a typo) of the register and, with the
same rules, of the shipped gazetteer. The reference, measured in the same run in a third subprocess, is the
shipped gazetteer alone (an empty store): its RSS, its lookup times and its accuracy on the same kinds of variants.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.table import Row

REPO = Path(__file__).resolve().parents[1]
TARGET_TOTAL_S = 900.0  # import + index build
TARGET_P50_MS = 5.0
TARGET_RSS_MIB = 2048.0
RULES = ("lower", "no_legal_form", "abbrev", "typo")
_ABBREV = {"international": "Intl", "corporation": "Corp", "technology": "Tech", "technologies": "Tech",
           "manufacturing": "Mfg", "industries": "Inds", "company": "Co", "and": "&", "limited": "Ltd",
           "development": "Dev", "management": "Mgmt", "holdings": "Hldgs", "group": "Grp", "university": "Univ",
           "engineering": "Eng", "services": "Svcs", "trading": "Trdg", "construction": "Constr",
           "logistics": "Logis", "pharmaceutical": "Pharma", "pharmaceuticals": "Pharma", "systems": "Sys",
           "enterprise": "Ent", "enterprises": "Ents", "private": "Pvt", "singapore": "S'pore"}
_WORD = re.compile(r"^[A-Z][a-z]{2,14}$")


# ------------------------------------------------------------------------------------------- the register


def name_parts() -> dict[str, Any]:
    """Real name parts from data/: distinctive words, sector words with their ISIC division, cities, legal forms."""
    from autocode.classifiers.employers.cues import find_cues
    from autocode.classifiers.employers.gazetteer import load_gazetteer
    from autocode.classifiers.employers.names import load_legal_forms, strip_legal_form

    gaz = load_gazetteer(("companies", "organisations", "large_employers"))
    gaz = gaz[(gaz.isic_division != "") & (gaz.country != "")]
    sector_words: Counter[tuple[str, str, str]] = Counter()  # (last word, section, division)
    words: Counter[str] = Counter()
    for name, section, division in zip(gaz.name, gaz.isic_section, gaz.isic_division, strict=True):
        core = [w for w in re.sub(r"[^\w\s]", " ", strip_legal_form(name)[0]).split() if _WORD.match(w)]
        if len(core) >= 2:
            sector_words[(core[-1], section, division)] += 1
            words.update(core[:-1])
    sectors = sorted((w, s, d) for (w, s, d), n in sector_words.items() if n >= 3 and not find_cues(w))
    sector_set = {w for w, _, _ in sectors}
    # Distinctive words (not "National"), and no place or demonym: "Acme India" would say a country the record lacks.
    vocab = sorted(w for w, n in words.items() if n <= 50 and w not in sector_set and not find_cues(w))
    cities: dict[str, list[str]] = {}
    for city, country in zip(gaz.city, gaz.country, strict=True):
        if city and _WORD.match(city):
            cities.setdefault(country, []).append(city)
    forms: dict[str, list[tuple[str, str]]] = {}
    for form in load_legal_forms():
        if form.where in ("end", "start", "both") and form.countries:
            for country in form.countries[:2]:
                forms.setdefault(country, []).append((form.name, "start" if form.where == "start" else "end"))
    countries = sorted(c for c in forms if c in cities)
    return {"vocab": vocab, "sectors": sectors, "cities": {c: sorted(set(v)) for c, v in cities.items()},
            "forms": forms, "countries": countries}


def generate(path: Path, n: int, seed: int = 0) -> list[dict[str, str]]:
    """Write a register of `n` unique records to CSV `path`; returns its rows (name, country, isic_division, city)."""
    from autocode.classifiers.employers.names import match_key

    parts = name_parts()
    rng = random.Random(seed)
    vocab, sectors, countries = parts["vocab"], parts["sectors"], parts["countries"]
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "country", "isic_division", "city"])
        while len(rows) < n:
            country = rng.choice(countries)
            sector, _, division = rng.choice(sectors)
            city = rng.choice(parts["cities"][country])
            core = [rng.choice(vocab) for _ in range(rng.choice((1, 2, 2, 3)))]
            if rng.random() < 0.3:
                core.insert(0, city)
            core.append(sector)
            key = match_key(" ".join(core))
            if key in seen:
                continue
            seen.add(key)
            form, where = rng.choice(parts["forms"][country])
            name = " ".join(core)
            if rng.random() < 0.9:
                name = f"{form} {name}" if where == "start" else f"{name} {form}"
            row = {"name": name, "country": country, "isic_division": division, "city": city}
            out.writerow(row.values())
            rows.append(row)
    return rows


def variant(name: str, rule: str, rng: random.Random) -> str:
    """An informal way of writing `name`: lower case, without legal form, abbreviated, or with one typo."""
    from autocode.classifiers.employers.names import strip_legal_form

    core = strip_legal_form(name)[0] or name
    if rule == "lower":
        return name.lower()
    if rule == "no_legal_form":
        return core
    words = core.split()
    if rule == "abbrev":
        short = [_ABBREV.get(w.casefold(), w) for w in words]
        if short == words:  # nothing to abbreviate: the informal habit is then lower case without the form
            return core.lower()
        return " ".join(short)
    long = [i for i, w in enumerate(words) if len(w) >= 6]
    if not long:
        return core.lower()
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    op = rng.choice(("swap", "drop", "double"))
    typo = (w[:j] + w[j + 1] + w[j] + w[j + 2:] if op == "swap" else w[:j] + w[j + 1:] if op == "drop"
            else w[:j] + w[j] + w[j:])
    return " ".join([*words[:i], typo, *words[i + 1:]])


def queries(names: list[str], count: int, seed: int) -> list[tuple[str, str, int]]:
    """(text, rule, position in `names`) for `count` records, the rules in turn."""
    rng = random.Random(seed)
    picks = rng.sample(range(len(names)), min(count, len(names)))
    return [(variant(names[i], RULES[k % len(RULES)], rng), RULES[k % len(RULES)], i) for k, i in enumerate(picks)]


def shipped_queries(count: int, seed: int) -> list[tuple[str, str, int]]:
    """The same rules over shipped gazetteer records (companies and organisations with a sector): text, rule, record id."""
    from autocode.classifiers.employers.gazetteer import load_gazetteer

    gaz = load_gazetteer(("companies", "organisations"))
    gaz = gaz[gaz.isic_section != ""].reset_index(drop=True)
    names = list(gaz.name)
    return [(t, r, int(gaz.record_id[i])) for t, r, i in queries(names, count, seed + 1)]


# ------------------------------------------------------------------------------------------- the worker


def _lookups(resolver: Any, qs: list[tuple[str, str, int]], equivalent: dict[int, str] | None = None
             ) -> dict[str, Any]:
    """Resolve each query alone; times (ms) and whether the right record was matched, per rule."""
    times, right = [], Counter()
    per_rule = Counter(r for _, r, _ in qs)
    for text, rule, rid in qs:
        t = time.perf_counter()
        result = resolver.resolve([text])[0]
        times.append((time.perf_counter() - t) * 1000)
        ok = result.record_id == rid or (equivalent is not None and result.record_id is not None
                                         and equivalent.get(result.record_id) == equivalent.get(rid))
        right[rule] += bool(ok)
    arr = np.asarray(times)
    return {"n": len(qs), "p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)),
            "accuracy": sum(right.values()) / max(len(qs), 1),
            "by_rule": {r: right[r] / per_rule[r] for r in per_rule}}


def _equivalent() -> dict[int, str]:
    # Two listings of one company (share classes, other exchanges) are one employer, as in benchmarks.employers.
    from autocode.classifiers.employers.gazetteer import load_gazetteer
    from autocode.classifiers.employers.names import match_key, strip_legal_form

    gaz = load_gazetteer()
    return {int(r): match_key(strip_legal_form(n)[0] or n).replace(" ", "") for r, n in
            zip(gaz.record_id, gaz.name, strict=True)}


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """In its own process: load the resolver over the store, building the register; measure lookups. One JSON dict."""
    from autocode.service import employer_engine
    from autocode.service.stores.records import USER_ID_BASE, RecordStore
    from benchmarks.table import peak_rss_mib

    home = Path(spec["home"])
    os.environ["AUTOCODE_HOME"] = str(home)
    out: dict[str, Any] = {}
    t = time.perf_counter()
    employer_engine.get_resolver(RecordStore(home / "empty.sqlite3"), encoder=spec["encoder"])
    out["gazetteer_load_s"] = time.perf_counter() - t
    out["gazetteer_rss_mib"] = peak_rss_mib()
    employer_engine.REGISTER_MIN = min(employer_engine.REGISTER_MIN, spec["register_min"])
    if spec.get("spec"):
        from autocode.classifiers.employers import register

        register.INDEX_SPEC = spec["spec"]
    t = time.perf_counter()
    resolver = employer_engine.get_resolver(RecordStore(home / "records.sqlite3"), encoder=spec["encoder"])
    out["register_s"] = time.perf_counter() - t
    reg = resolver.register_
    out["register_rows"] = len(reg) if reg is not None else 0
    out["register_factory"] = reg.meta.get("factory") if reg is not None else ""
    qs = [(text, rule, USER_ID_BASE + pos) for text, rule, pos in spec["queries"]]
    if reg is not None:
        out["truth_mismatches"] = sum(reg.name(rid) != name for (_, _, rid), name in
                                      zip(qs, spec["query_names"], strict=True))
    resolver.resolve(["warm up"])
    equivalent = _equivalent()
    if qs and reg is not None:
        out["register"] = _lookups(resolver, qs)
        out["register_parts_ms"] = _parts(resolver, [t for t, _, _ in qs[:200]])
    out["shipped"] = _lookups(resolver, [tuple(q) for q in spec["shipped"]], equivalent)
    out["rss_mib"] = peak_rss_mib()
    return out


def _parts(resolver: Any, texts: list[str]) -> dict[str, float]:
    """Median ms of the lookup's parts over `texts`: encoding, gazetteer fuzzy keys, register keys and vectors."""
    from autocode.classifiers.employers.match import parse_query

    enc, gaz_fuzzy, reg_fuzzy, reg_vec = [], [], [], []
    reg = resolver.register_
    for text in texts:
        q = parse_query(text, resolver.form_priors_)
        t0 = time.perf_counter()
        vec = resolver.encoder.encode([q.base + " "])  # a fresh text: the encoder's cache would hide the cost
        t1 = time.perf_counter()
        register, resolver.register_ = resolver.register_, None
        resolver._fuzzy([q.key], 30)
        resolver.register_ = register
        t2 = time.perf_counter()
        reg.fuzzy(q.key, 30)
        for key in q.keys:
            reg.holders(key)
        t3 = time.perf_counter()
        reg.search(vec, 40)
        t4 = time.perf_counter()
        enc.append(t1 - t0)
        gaz_fuzzy.append(t2 - t1)
        reg_fuzzy.append(t3 - t2)
        reg_vec.append(t4 - t3)
    return {k: 1000 * statistics.median(v) for k, v in
            (("encode", enc), ("gazetteer_fuzzy", gaz_fuzzy), ("register_keys_fuzzy", reg_fuzzy), ("register_vectors", reg_vec))}


def _run_child(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a subprocess; (wall s, its peak RSS MiB, stdout)."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, cwd=REPO, text=True)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args[:6])} ... failed with exit status {proc.returncode}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024, stdout


def _worker_in_child(spec: dict[str, Any], tmp: Path) -> tuple[dict[str, Any], float]:
    path = tmp / f"worker-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec))
    _, rss, stdout = _run_child([sys.executable, "-m", "benchmarks.register", "--worker", str(path)])
    return json.loads(stdout.strip().splitlines()[-1]), rss


# ------------------------------------------------------------------------------------------- the suite


def measure(n: int, n_queries: int, encoder: str = "minilm", spec: str | None = None, keep: Path | None = None,
            ) -> dict[str, Any]:
    """Generate, import (CLI subprocess), build and look up; every figure as a dict."""
    with tempfile.TemporaryDirectory(prefix="bench_register_") as tmp_name:
        tmp = keep or Path(tmp_name)
        home = tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        rows = generate(tmp / "register.csv", n)
        gen_s = time.perf_counter() - t
        names = [r["name"] for r in rows]
        qs = queries(names, n_queries, 0)
        del rows
        env = {**os.environ, "AUTOCODE_HOME": str(home)}
        cli = [sys.executable, "-c", "from autocode.service.cli import main; main()"]
        import_s, import_rss, stdout = _run_child([*cli, "records", "import", str(tmp / "register.csv")], env)
        print(f"generated {n:,} records in {gen_s:.0f}s; import: {stdout.strip()} in {import_s:.0f}s", file=sys.stderr)
        base = {"home": str(home), "encoder": encoder, "spec": spec, "register_min": min(n, 20_000), "shipped": shipped_queries(n_queries, 0)}
        run = {**base, "queries": qs, "query_names": [names[i] for _, _, i in qs]}
        built, build_rss = _worker_in_child(run, tmp)
        cached, cached_rss = _worker_in_child({**run, "shipped": run["shipped"][:50]}, tmp)  # a later process
        ref_home = tmp / "ref-home"
        ref_home.mkdir(exist_ok=True)
        ref, ref_rss = _worker_in_child({**base, "home": str(ref_home), "queries": [], "query_names": []}, tmp)
        return {"records": n, "queries": len(qs), "encoder": encoder, "generate_s": gen_s, "import_s": import_s,
                "import_rss_mib": import_rss, "import_output": stdout.strip(), "built": built, "build_rss_mib": build_rss,
                "cached": cached, "cached_rss_mib": cached_rss, "reference": ref, "reference_rss_mib": ref_rss}


def rows_of(m: dict[str, Any]) -> list[Row]:
    """The benchmark table rows of one measure() result, each with its same-run reference and target."""
    b, c, ref = m["built"], m["cached"], m["reference"]
    n = f"{m['records']:,} records"
    total = m["import_s"] + b["register_s"]
    parts = b.get("register_parts_ms", {})
    reg, shipped, ref_shipped = b.get("register", {}), b["shipped"], ref["shipped"]
    by_rule = ", ".join(f"{k} {v:.3f}" for k, v in reg.get("by_rule", {}).items())
    ref_rule = ", ".join(f"{k} {v:.3f}" for k, v in ref_shipped["by_rule"].items())
    return [
        Row(f"register {n}: import (`records import`, CLI subprocess) + index build (first get_resolver)", total, "s",
            None, None, f"<= {TARGET_TOTAL_S:.0f} s", total <= TARGET_TOTAL_S,
            f"import {m['import_s']:.0f} s (peak RSS {m['import_rss_mib']:,.0f} MiB), index {b['register_s']:.0f} s "
            f"({b['register_factory']}, {m['encoder']}); a later process loads it in {c['register_s']:.1f} s"),
        Row(f"register {n}: peak RSS of the resolving process (gazetteer + register)", m["build_rss_mib"], "MiB",
            m["reference_rss_mib"], None, f"<= {TARGET_RSS_MIB:.0f} MiB", m["build_rss_mib"] <= TARGET_RSS_MIB,
            f"reference: shipped gazetteer alone; a later process that loads the saved register: {m['cached_rss_mib']:,.0f} MiB"),
        Row(f"register {n}: lookup p50, one informal name at a time (resolve)", reg.get("p50_ms", float("nan")), "ms",
            ref_shipped["p50_ms"], ref_shipped["p50_ms"] / max(reg.get("p50_ms", 1e-9), 1e-9),
            f"<= {TARGET_P50_MS:g} ms", reg.get("p50_ms", 1e9) <= TARGET_P50_MS,
            "reference: shipped gazetteer alone, same rules; median parts: " +
            ", ".join(f"{k} {v:.2f} ms" for k, v in parts.items())),
        Row(f"register {n}: lookup p99", reg.get("p99_ms", float("nan")), "ms", ref_shipped["p99_ms"], None, "", None,
            "reference: shipped gazetteer alone"),
        Row(f"register {n}: right record, informal variants of register records (n={reg.get('n', 0)})",
            reg.get("accuracy", float("nan")), "", ref_shipped["accuracy"], None,
            f">= shipped ({ref_shipped['accuracy']:.3f})", reg.get("accuracy", 0) >= ref_shipped["accuracy"] - 0.01,
            f"{by_rule}; reference (same rules on shipped records, gazetteer alone): {ref_rule}"),
        Row(f"register {n}: right record, same variants of shipped records with the register loaded", shipped["accuracy"],
            "", ref_shipped["accuracy"], None, ">= gazetteer alone - 0.01",
            shipped["accuracy"] >= ref_shipped["accuracy"] - 0.01,
            f"p50 {shipped['p50_ms']:.1f} ms; truth id mismatches {b.get('truth_mismatches', '-')}"),
    ]


def run(quick: bool = False) -> list[Row]:
    """The `make bench` rows: 20,000 records (2,000 when quick); the 1M figures are `python -m benchmarks.register`."""
    n, q = (2_000, 100) if quick else (20_000, 200)
    note = (f"make bench runs {n:,} records (1M takes 10-20 min here): the full size is "
            "`python -m benchmarks.register` (1,000,000 records, 1,000 queries)")
    print(f"register: {note}", file=sys.stderr)
    rows = rows_of(measure(n, q))
    rows[0].detail += f"; {note}"
    return rows


# ------------------------------------------------------------------------------------------- index probe


def probe(n: int, n_queries: int = 500, encoder: str = "minilm") -> list[dict[str, Any]]:
    """Each candidate vector index over the register's names: recall@20 of exact float32, p50 ms, build s, bytes."""
    import faiss

    from autocode.classifiers.employers.names import strip_legal_form
    from autocode.classifiers.employers.register import NPROBE, TRAIN_ROWS, _train, faiss_spec
    from autocode.embeddings import get_encoder

    enc = get_encoder(encoder)
    with tempfile.TemporaryDirectory() as tmp:
        names = [r["name"] for r in generate(Path(tmp) / "r.csv", n)]
    t = time.perf_counter()
    base = np.concatenate([enc.encode([strip_legal_form(x)[0] or x for x in names[i:i + 20_000]])
                           for i in range(0, len(names), 20_000)])
    encode_s = time.perf_counter() - t
    qs = queries(names, n_queries, 0)
    qv = enc.encode([text for text, _, _ in qs])
    truth = faiss.IndexFlatIP(base.shape[1])
    truth.add(base)
    _, exact = truth.search(qv, 20)
    out = [{"spec": "encode", "names_per_s": n / encode_s}]
    for spec in ("flat", "sq8", "hnsw-sq8", "ivf-sq8", "ivf-pq", "ivf-pq96"):
        index = faiss.index_factory(base.shape[1], faiss_spec(spec, n), faiss.METRIC_INNER_PRODUCT)
        t = time.perf_counter()
        if not index.is_trained:
            _train(index, base[:TRAIN_ROWS])
        index.add(base)
        build = time.perf_counter() - t
        knobs: list[tuple[str, int]] = [("", 0)]
        if faiss.try_extract_index_ivf(index) is not None:
            knobs = [("nprobe", p) for p in (8, 16, NPROBE, 32, 64)]
        elif hasattr(index, "hnsw"):
            knobs = [("efSearch", e) for e in (32, 64, 128)]
        size = faiss.serialize_index(index).size
        for knob, value in knobs:
            if knob == "nprobe":
                faiss.extract_index_ivf(index).nprobe = value
            elif knob == "efSearch":
                index.hnsw.efSearch = value
            _, found = index.search(qv, 20)
            recall = float(np.mean([len(set(a) & set(b)) / 20 for a, b in zip(found, exact, strict=True)]))
            top1 = float(np.mean(found[:, 0] == exact[:, 0]))
            times = []
            for v in qv[:200]:
                t = time.perf_counter()
                index.search(v[None], 20)
                times.append((time.perf_counter() - t) * 1000)
            out.append({"spec": spec, "factory": faiss_spec(spec, n), knob or "knob": value, "recall@20": recall,
                        "top1": top1, "p50_ms": float(np.median(times)), "build_s": build,
                        "bytes_per_vector": size / n})
            print(json.dumps(out[-1]), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or the probe, or one worker) and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--spec", default=None, help="the register's vector index (flat, sq8, hnsw-sq8, ivf-sq8, ivf-pq)")
    ap.add_argument("--probe", action="store_true", help="measure every candidate vector index instead")
    ap.add_argument("--json", type=Path, default=None, help="also save every figure here")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker.read_text()))))
        return
    if args.probe:
        probe(args.records, min(args.queries, 1000), args.encoder)
        return
    from benchmarks.__main__ import print_table

    m = measure(args.records, args.queries, args.encoder, args.spec)
    if args.json:
        args.json.write_text(json.dumps(m, indent=1))
    print(json.dumps({k: v for k, v in m.items() if k not in ("import_output",)}, indent=1), file=sys.stderr)
    print_table(rows_of(m))


if __name__ == "__main__":
    main()
