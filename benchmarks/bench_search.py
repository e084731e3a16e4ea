"""Search at scale: 1M × 384 vectors, p50 single-query latency, recall@10 against exact search, build time, RSS.

    python -m benchmarks.bench_search [--quick | --probe]

Base: the real all-MiniLM-L6-v2 vectors of the gazetteer names plus synthetic vectors made from them
(``normalise(v_i + s·(v_j − v_k))`` for random real i, j, k and s ~ U(0.3, 0.8): the added noise is a
difference of two real vectors, so it lies in the real vectors' subspace and keeps their anisotropy).
Queries: real-name variants (lowercased, one-character typos) encoded with MiniLM. Ground truth: exact
inner-product top-10 over the whole base. The index is CHOSEN (below), built in its own subprocess so its
memory is its own, and measured with and without an exact re-rank of its top RERANK candidates, whose float32
vectors are read from the base file with pread (page cache, not process memory: the DiskANN-style split of
compressed vectors in RAM, full vectors on disk). ``--probe`` measures every candidate at 100k: how CHOSEN
was chosen. Memory is the searching process's anonymous RSS (``RssAnon``: the mapped base is not counted).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.table import Row

DIM = 384
K = 10
RECALL_TARGET = 0.99
P50_TARGET_MS = 2.0
RSS_TARGET_MIB = 1024.0
CACHE = Path(__file__).resolve().parents[1] / ".benchmarks" / "search_name_vectors.npy"
_CHUNK = 50_000


# ---------------------------------------------------------------------------- data


def _names() -> list[str]:
    from autocode.classifiers.employers.gazetteer import load_gazetteer

    return list(dict.fromkeys(str(n) for n in load_gazetteer()["name"].tolist() if str(n).strip()))


def _encode(texts: list[str], cache: Path | None) -> np.ndarray:
    """MiniLM vectors of `texts`, cached on disk under a hash of the texts (encoding 33k names takes minutes)."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache.with_name(f"{cache.stem}-{key}.npy") if cache is not None else None
    if path is not None and path.exists():
        return np.load(path)
    from autocode.embeddings.encoder import get_encoder

    vecs = get_encoder("minilm").encode(texts)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
    return vecs


def query_variants(names: list[str], n: int, seed: int = 7) -> list[str]:
    """`n` variants of random names: lowercased, a dropped, swapped or replaced character, or both."""
    rng = random.Random(seed)
    out: list[str] = []
    for name in rng.sample(names, min(n, len(names))):
        text = name.lower() if rng.random() < 0.5 else name
        if len(text) > 3 and rng.random() < 0.8:
            i = rng.randrange(1, len(text) - 1)
            op = rng.choice(("drop", "swap", "replace"))
            if op == "drop":
                text = text[:i] + text[i + 1 :]
            elif op == "swap":
                text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
            else:
                text = text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1 :]
        out.append(text)
    return out


def synthesise(real: np.ndarray, out: np.ndarray, seed: int = 11) -> None:
    """Fill `out` with unit vectors normalise(v_i + s·(v_j − v_k)), s ~ U(0.3, 0.8), from real rows i, j, k."""
    rng = np.random.default_rng(seed)
    for start in range(0, len(out), _CHUNK):
        m = min(_CHUNK, len(out) - start)
        i, j, k = (rng.integers(0, len(real), m) for _ in range(3))
        s = rng.uniform(0.3, 0.8, (m, 1)).astype(np.float32)
        x = real[i] + s * (real[j] - real[k])
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Exact inner-product top-k ids (the ground truth), computed in chunks over the base."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(base), 200_000):
        scores = queries @ np.asarray(base[start : start + 200_000]).T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(scores, part, axis=1)
        cat_s = np.concatenate([best_s, s], axis=1)
        cat_i = np.concatenate([best_i, part + start], axis=1)
        top = np.argsort(-cat_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cat_s, top, axis=1), np.take_along_axis(cat_i, top, axis=1)
    return best_i


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true top-k ids found in the returned top-k."""
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / truth.shape[1] for f, t in zip(found, truth, strict=True)]))


# ---------------------------------------------------------------------------- one candidate (in a child process)


def _rss_anon_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rerank(fd: int, offset: int, q: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The exact top-k of candidate `rows`, their float32 vectors read from the base file with pread (not mapped)."""
    rows = np.sort(rows[rows >= 0])
    width = DIM * 4
    vecs = np.frombuffer(b"".join(os.pread(fd, width, offset + int(r) * width) for r in rows), dtype=np.float32)
    scores = vecs.reshape(len(rows), DIM) @ q
    return rows[np.argsort(-scores)[:k]]


def measure_candidate(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one FAISS index over the mapped base, sweep its search knob to the recall target, time p50.

    With a ``reranks`` entry R > 0 the index returns R candidates and their exact float32 scores pick the top 10: the
    vectors are read from the base file with pread, so they sit in the OS page cache, not in this process.
    """
    import faiss

    base = np.load(spec["base"], mmap_mode="r")[: spec["n"]]
    queries = np.load(spec["queries"])
    truth = np.load(spec["truth"])
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    rss0 = _rss_anon_mib()
    t0 = time.perf_counter()
    if spec["factory"] == "VectorIndex":
        # The product's own index (autocode.embeddings.index.VectorIndex), so its Python layer is in the timing too.
        from autocode.embeddings.index import VectorIndex

        store = VectorIndex("bench", DIM, "hnsw", storage=spec["storage"], hnsw_m=spec["m"], ef_construction=spec["ef_construction"])
        for start in range(0, len(base), _CHUNK):
            chunk = np.ascontiguousarray(base[start : start + _CHUNK])
            store.add(np.arange(start, start + len(chunk), dtype=np.int64), chunk)
            print(f"  added {start + len(chunk):,}/{len(base):,} in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
        index = store._index

        def top(q: np.ndarray, k: int) -> np.ndarray:
            return store.search(q[None, :], k)[1][0]

        def set_knob(value: int) -> None:
            store.ef_search = value
    else:
        index = faiss.index_factory(DIM, spec["factory"], faiss.METRIC_INNER_PRODUCT)
        if spec.get("ef_construction"):
            index.hnsw.efConstruction = spec["ef_construction"]
        if not index.is_trained:
            rng = np.random.default_rng(3)
            sample = np.ascontiguousarray(base[np.sort(rng.choice(len(base), min(len(base), spec.get("train", 100_000)), replace=False))])
            ivf = faiss.try_extract_index_ivf(index)
            if ivf is not None:
                ivf.cp.niter = 10
            index.train(sample)
            del sample
        for start in range(0, len(base), _CHUNK):
            index.add(np.ascontiguousarray(base[start : start + _CHUNK]))
            print(f"  added {min(start + _CHUNK, len(base)):,}/{len(base):,} in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
        params = faiss.ParameterSpace()

        def top(q: np.ndarray, k: int) -> np.ndarray:
            return index.search(q[None, :], k)[1][0]

        def set_knob(value: int) -> None:
            params.set_index_parameter(index, spec["knob"], value)

    build_s = time.perf_counter() - t0
    rss_mib = _rss_anon_mib() - rss0
    serial_mib = faiss.serialize_index(index).nbytes / 2**20
    fd = os.open(spec["base"], os.O_RDONLY)
    offset = int(base.offset)
    n_timed = int(spec.get("timed") or len(queries))
    queries, truth = queries[:n_timed], truth[:n_timed]  # a timed subset only for the slow exact reference
    faiss.omp_set_num_threads(1)  # one query at a time, one thread: the latency a single request sees
    runs = []
    for rerank in spec.get("reranks") or [0]:

        def search_one(q: np.ndarray, rerank: int = rerank) -> np.ndarray:
            if not rerank:
                return top(q, K)
            return _rerank(fd, offset, q, top(q, rerank), K)

        sweep: list[tuple[int | None, float, float]] = []
        for value in spec.get("sweep") or [None]:
            if value is not None:
                set_knob(value)
            found, times = [], []
            for q in queries:
                t = time.perf_counter()
                found.append(search_one(q))
                times.append(time.perf_counter() - t)
            rec = recall_at_k(np.asarray([np.pad(f, (0, K - len(f)), constant_values=-1) for f in found]), truth)
            p50 = float(np.median(times)) * 1e3
            sweep.append((value, round(rec, 4), round(p50, 3)))
            print(f"  {spec['factory']} rerank {rerank} {spec.get('knob')}={value}: recall {rec:.4f}, p50 {p50:.2f} ms",
                  file=sys.stderr, flush=True)
            if rec >= RECALL_TARGET:
                break
        runs.append({"rerank": rerank, "value": sweep[-1][0], "recall": sweep[-1][1], "p50_ms": sweep[-1][2], "sweep": sweep})
    os.close(fd)
    return {
        "factory": spec["factory"], "n": spec["n"], "knob": spec.get("knob"), "ef_construction": spec.get("ef_construction"),
        "runs": runs, "build_s": build_s, "rss_mib": rss_mib, "rss_total_mib": _rss_anon_mib(), "serial_mib": serial_mib,
    }


def _in_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run measure_candidate in a fresh interpreter, so each index's memory is its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_search", "--candidate", json.dumps(spec)],
        stdout=subprocess.PIPE, text=True, check=False, cwd=Path(__file__).resolve().parents[1],
    )  # the child's progress lines go straight to this process's stderr
    if proc.returncode != 0:
        raise RuntimeError(f"candidate {spec['factory']} failed with exit status {proc.returncode} (its stderr is above)")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- the suite


# Chosen by measurement (`python -m benchmarks.bench_search --probe`, numbers in README): on this data HNSW
# with 8-bit scalar quantisation is the only candidate within 1 GiB at 1M; SQ8 alone stops near recall 0.99
# (an exact search over the SQ8 codes gave 0.993 at 100k), so the top RERANK candidates are re-scored exactly.
CHOSEN: dict[str, Any] = {"factory": "VectorIndex", "storage": "int8", "m": 32, "ef_construction": 120,
                          "knob": "efSearch", "sweep": [64, 96, 128, 192, 256, 384, 512]}
RERANK = 50


def _probe_candidates(n: int) -> list[dict[str, Any]]:
    nlist = 1 << max(6, round(np.log2(4 * np.sqrt(n))))
    probes = [p for p in (4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256) if p <= nlist]
    efs = [64, 128, 256, 512]
    return [
        {**CHOSEN, "reranks": [0, RERANK]},
        {"factory": "HNSW32,SQ8", "knob": "efSearch", "sweep": efs, "ef_construction": 40, "reranks": [0, RERANK]},
        {"factory": "HNSW16,SQfp16", "knob": "efSearch", "sweep": efs, "ef_construction": 120},
        {"factory": f"IVF{nlist},SQfp16", "knob": "nprobe", "sweep": probes},
        {"factory": f"IVF{nlist}_HNSW32,PQ64x4fs,Refine(SQfp16)", "knob": "nprobe", "sweep": probes},
    ]


def _data(tmp: Path, n: int, quick: bool) -> tuple[dict[str, str], int, int]:
    """The base (.npy, real vectors scattered among synthetic ones) and the queries; paths, real count, query count."""
    names = _names()
    if quick:
        names = names[:500]
    qtexts = query_variants(names, 100 if quick else 1000)
    real = _encode(names, CACHE if not quick else None)
    queries = _encode(qtexts, None)
    base_path = tmp / "base.npy"
    base = np.lib.format.open_memmap(base_path, mode="w+", dtype=np.float32, shape=(n, DIM))
    synthesise(real, base)
    base[np.random.default_rng(5).permutation(n)[: len(real)]] = real
    base.flush()
    np.save(tmp / "queries.npy", queries)
    np.save(tmp / "truth.npy", exact_topk(base, queries))
    del base
    return {"base": str(base_path), "queries": str(tmp / "queries.npy"), "truth": str(tmp / "truth.npy")}, len(real), len(queries)


def probe(n: int = 100_000) -> list[dict[str, Any]]:
    """Every candidate at a probe size (how CHOSEN was chosen); one JSON line per candidate on stdout."""
    with tempfile.TemporaryDirectory(prefix="bench_search_") as tmp:
        common, _, _ = _data(Path(tmp), n, quick=False)
        results = []
        for c in _probe_candidates(n):
            results.append(_in_child({**c, **common, "n": n}))
            print(json.dumps(results[-1]), flush=True)
    return results


def run(quick: bool = False) -> list[Row]:
    """Build CHOSEN over 1M vectors (10k when quick) and the exact reference; rows."""
    t_all = time.perf_counter()
    n = 10_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench_search_") as tmp:
        t_data = time.perf_counter()
        common, n_real, n_queries = _data(Path(tmp), n, quick)
        data_s = time.perf_counter() - t_data
        final = _in_child({**CHOSEN, **common, "n": n, "reranks": [0, RERANK]})
        flat = _in_child({"factory": "Flat", **common, "n": n, "timed": 20})
    plain, reranked = final["runs"]
    label = "VectorIndex hnsw int8 (HNSW32,SQ8)" if final["factory"] == "VectorIndex" else final["factory"]
    # The fastest run that reaches the recall target; if none does, the most accurate.
    meeting = [r for r in (plain, reranked) if r["recall"] >= RECALL_TARGET]
    best = min(meeting, key=lambda r: r["p50_ms"]) if meeting else max((plain, reranked), key=lambda r: r["recall"])
    size = (f"{n:,} × {DIM} ({n_real:,} real MiniLM gazetteer-name vectors + synthetic normalise(v_i + s(v_j − v_k)), "
            f"s~U(0.3,0.8))")
    how = (f"{label} efConstruction {final['ef_construction']}, efSearch {best['value']}, "
           + (f"exact re-rank of the top {best['rerank']} (float32 read from disk with pread)" if best["rerank"] else "no re-rank"))
    what = f"{how}; base {size}; {n_queries} typo/lowercase name queries"
    other = (f"without re-rank: recall {plain['recall']:.4f} at p50 {plain['p50_ms']:.2f} ms (efSearch {plain['value']}); "
             f"sweeps (efSearch, recall, p50 ms): plain {plain['sweep']}, re-ranked {reranked['sweep']}")
    name = f"search {n // 1000}k, {label}" + (f" + re-rank {best['rerank']}" if best["rerank"] else "")
    return [
        Row(f"{name}: p50 single-query latency", best["p50_ms"], "ms", flat["runs"][0]["p50_ms"],
            flat["runs"][0]["p50_ms"] / best["p50_ms"], f"<= {P50_TARGET_MS:g} ms", best["p50_ms"] <= P50_TARGET_MS,
            f"1 thread, one query per call; reference: exact IndexFlatIP p50 over 20 queries; {what}"),
        Row(f"{name}: recall@10 vs exact", best["recall"], "", 1.0, best["recall"], f">= {RECALL_TARGET}",
            best["recall"] >= RECALL_TARGET, f"{what}; {other}"),
        Row(f"{name}: build time", final["build_s"], "s", flat["build_s"], None, "", None,
            f"{os.cpu_count()} cores, train+add; reference: flat add; data prep {data_s:.0f}s (incl. exact top-10); "
            f"whole suite {time.perf_counter() - t_all:.0f}s"),
        Row(f"{name}: process memory (RssAnon)", final["rss_total_mib"], "MiB", flat["rss_total_mib"],
            flat["rss_total_mib"] / max(final["rss_total_mib"], 1e-9), f"<= {RSS_TARGET_MIB:.0f} MiB",
            final["rss_total_mib"] <= RSS_TARGET_MIB,
            f"the searching process's anonymous RSS (Python, FAISS, index); the index grew it by {final['rss_mib']:.0f} MiB; "
            f"serialized {final['serial_mib']:.0f} MiB; the mapped base and re-rank reads are page cache, not counted; "
            f"reference: the same process holding IndexFlatIP float32"),
    ]


def main() -> None:
    """Print the rows (--probe: every candidate at 100k; --candidate SPEC: measure one, print its JSON)."""
    if len(sys.argv) > 2 and sys.argv[1] == "--candidate":
        print(json.dumps(measure_candidate(json.loads(sys.argv[2]))))
        return
    from benchmarks.__main__ import print_table

    t = time.perf_counter()
    if "--probe" in sys.argv:
        probe()
        return
    rows = run(quick="--quick" in sys.argv)
    print_table(rows)
    print(f"took {time.perf_counter() - t:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
