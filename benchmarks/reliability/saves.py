"""Saves killed mid-write: each saved artefact is written again and again by a process SIGKILLed at a random moment.

The artefacts: a VectorIndex folder, a trained model folder (the cascade's save_model, what `autocode train`
writes), the employer name index cache under AUTOCODE_HOME/indexes, and the review decisions store. Afterwards
every load must give the old version or the new one, never a broken one. Then folders broken by hand (a
truncated file, a missing manifest, garbage JSON) must be refused with the project's error naming the path.

How: one helper process per artefact loads what it needs once, then for each trial forks a child that saves
generation after generation (appending each finished generation to an ack file) until it is killed; the helper
then loads what is on disk and says which generation it found. Forking keeps a trial to milliseconds where a
fresh process would spend seconds importing.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.reliability.common import Check

PART = "saves"
REPO = Path(__file__).resolve().parents[2]
SEED = 19
ENCODER = "use-multilingual"  # numpy only: nothing in the helper holds threads a fork could strand

_HELPER = textwrap.dedent(
    r'''
    import json, os, shutil, signal, sys, time, traceback
    from pathlib import Path
    import numpy as np

    kind, root = sys.argv[1], Path(sys.argv[2])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed children are reaped by the kernel
    MARK = 2**62 + 2**60  # marker ids, above every gazetteer and user record id: the generation saved is MARK + g
    last = [0]  # the generation the in-memory index holds (a forked child inherits it)
    rng = np.random.default_rng(19)

    def generation_of(loaded, base):
        """The one marker id the saved index holds beyond the ids it started with, as a generation."""
        ids = loaded.ids() if callable(loaded.ids) else loaded.ids
        marks = [int(i) - MARK for i in np.asarray(ids) if int(i) not in base]
        if len(marks) != 1:
            raise AssertionError(f"{len(loaded)} rows, {len(marks)} markers")
        return marks[0]

    def say(**msg):
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    def project_error(exc, path):
        """The project's error class, naming the path: a refusal, not a crash."""
        from autocode.errors import AutocodeError
        return isinstance(exc, AutocodeError) and str(path) in str(exc)

    if kind == "index":
        from autocode.embeddings import IndexFormatError
        from autocode.embeddings.index import VectorIndex
        target = root / "index"
        n, dim = 40_000, 64
        vecs = rng.standard_normal((n, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        obj = VectorIndex("reliability-model", dim)
        obj.add(np.arange(n), vecs)
        base = set(range(n))
        marker = vecs[:1]
        def write(g):
            obj.remove([MARK + last[0]])
            obj.add([MARK + g], marker)
            last[0] = g
            obj.save(target)
        def generation():
            return generation_of(VectorIndex.load(target, expect_model="reliability-model", expect_dim=dim), base)
        def load(path):
            VectorIndex.load(path, expect_model="reliability-model", expect_dim=dim)
        broken = [("missing manifest.json", "manifest.json", "delete"), ("garbage manifest.json", "manifest.json", "garbage"),
                  ("truncated index.faiss", "index.faiss", "truncate"), ("truncated ids.npy", "ids.npy", "truncate"),
                  ("garbage index.faiss", "index.faiss", "garbage")]
    elif kind == "model":
        import pandas as pd
        from autocode.classifiers.cascade import Cascade
        from autocode.classifiers.codebook import load_codebook
        from autocode.classifiers.model import load_model, save_model
        from autocode.embeddings import get_encoder
        encoder = get_encoder(sys.argv[3])
        sample = pd.read_csv(sys.argv[4], dtype=str, keep_default_na=False)
        rows = sample[sample["support_gold"] != ""]
        texts = list(rows["support"]) * 3
        labels = [c.split("|") for c in rows["support_gold"]] * 3
        cascade = Cascade(encoder, load_codebook("employer-support"), n_splits=3).fit(texts, labels)
        target = root / "model"
        def write(g):
            cascade.metrics_["reliability_generation"] = g
            save_model(cascade, target)
        def generation():
            return int(load_model(target, encoder).metrics_["reliability_generation"])
        def load(path):
            load_model(path, encoder).predict(["they paid my course fees"])
        broken = [("missing model.json", "model.json", "delete"), ("garbage model.json", "model.json", "garbage"),
                  ("truncated model.json", "model.json", "truncate"), ("truncated codebook.json", "codebook.json", "truncate"),
                  ("truncated array", "arrays/*.npy", "truncate"), ("garbage component JSON", "components/*.json", "garbage"),
                  ("truncated kNN index.faiss", "knn/index.faiss", "truncate"), ("missing kNN manifest", "knn/manifest.json", "delete")]
    elif kind == "employers":
        import pandas as pd
        from autocode.embeddings import get_encoder
        from autocode.embeddings.index import VectorIndex
        from autocode.service import employer_engine as engine
        from autocode.classifiers.employers.gazetteer import load_gazetteer
        engine.use_reference(load_gazetteer().sample(n=int(sys.argv[4]), random_state=19).reset_index(drop=True))
        encoder = get_encoder(sys.argv[3])
        resolver = engine.get_resolver(encoder=sys.argv[3])
        target = engine.index_dir(encoder, engine._reference()[1])
        obj = resolver.name_index_
        base = {int(i) for i in np.asarray(obj.ids() if callable(obj.ids) else obj.ids)}  # name ids are hashes
        marker = obj.reconstruct(sorted(base)[:1])
        def write(g):
            obj.remove([MARK + last[0]])
            obj.add([MARK + g], marker)
            last[0] = g
            obj.save(target)
        def generation():
            # What the engine's own load finds: a fresh engine loads the cache (a broken one would be rebuilt).
            return generation_of(VectorIndex.load(target, expect_model=encoder.name, expect_dim=encoder.dim), base)
        def load(path):
            # A broken cache is not an error to show: the engine must rebuild it and resolve as before.
            engine._ENGINES.clear()
            engine.get_resolver(encoder=sys.argv[3]).resolve(["dbs bank"])
            VectorIndex.load(path, expect_model=encoder.name, expect_dim=encoder.dim)
        broken = [("garbage manifest.json", "manifest.json", "garbage"), ("truncated index.faiss", "index.faiss", "truncate"),
                  ("missing ids.npy", "ids.npy", "delete")]
    else:  # review
        from autocode.errors import InvalidError
        from autocode.service.review.store import ReviewStore
        target = root / "review.sqlite3"
        with ReviewStore(target) as store:
            store.open_session("s", "survey.csv", "support", "codebook:employer-support", {})
        def write(g):
            store = ReviewStore(target)  # opened in the child: a connection must not cross a fork
            while True:
                store.add("s", f"item-{g}", f"answer {g}", "accept", ["study_time"], {}, "reliability")
                os.write(ACK, f"{g}\n".encode())
                g += 1
        def decisions():
            with ReviewStore(target) as store:
                keys = [d["item_key"] for d in store.log("s")]
                check = store._db.execute("PRAGMA integrity_check").fetchone()[0]
            return keys, check
        def load(path):
            with ReviewStore(path) as store:
                store.open_session("s", "survey.csv", "support", "codebook:employer-support", {})
                store.add("s", "k", "t", "accept", ["x"], {}, "r")
                store.log("s")
        broken = [("garbage file", "", "garbage"), ("truncated file", "", "truncate")]

    def mutate(path, rel, how):
        files = sorted(path.glob(rel)) if rel else [path]
        if not files:
            raise AssertionError(f"nothing matches {rel} in {path}")
        f = files[0]
        if how == "delete":
            f.unlink()
        elif how == "truncate":
            data = f.read_bytes()
            f.write_bytes(data[: len(data) // 2])
        else:
            f.write_bytes(b"\x00{not json" + os.urandom(64))

    ACK = None
    write(1) if kind != "review" else None
    t0 = time.perf_counter()
    if kind != "review":
        write(2)
    else:
        with ReviewStore(target) as store:  # one decision's time, for where the kills land
            store.add("s", "warm-up", "t", "skip", [], {}, "reliability")
    say(ready=True, save_s=time.perf_counter() - t0, gen=2 if kind != "review" else 0)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "fork":
            pid = os.fork()
            if pid == 0:
                ACK = os.open(cmd["acks"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                try:
                    if kind == "review":
                        write(cmd["gen"] + 1)
                    g = cmd["gen"]
                    while True:
                        g += 1
                        write(g)
                        os.write(ACK, f"{g}\n".encode())
                except BaseException:
                    os.write(ACK, ("error " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
                os._exit(1)
            say(pid=pid)
        elif cmd["cmd"] == "check":
            try:
                if kind == "review":
                    keys, check = decisions()
                    say(keys=keys, integrity=check)
                else:
                    say(gen=generation())
            except Exception as exc:
                say(error=f"{type(exc).__name__}: {exc}")
        elif cmd["cmd"] == "litter":
            parent = target.parent
            say(litter=[p.name for p in parent.iterdir() if p.name.startswith(f".{target.name}")])
        elif cmd["cmd"] == "broken":
            results = []
            for name, rel, how in broken:
                copy = root / f"broken-{len(results)}"
                if kind == "employers":
                    copy = target  # the engine's own cache folder, broken in place
                    shutil.copytree(target, root / "good-cache", dirs_exist_ok=True)
                elif target.is_dir():
                    shutil.copytree(target, copy)
                else:
                    shutil.copyfile(target, copy)
                mutate(copy, rel, how)
                try:
                    load(copy)
                    outcome = "rebuilt and used" if kind == "employers" else "loaded"
                    # A truncated SQLite file may still hold whole pages: opening and using it is fine too.
                    ok = kind in ("employers", "review")
                except Exception as exc:
                    ok = kind != "employers" and project_error(exc, copy)
                    outcome = f"{type(exc).__name__}: {str(exc)[:160]}"
                results.append({"case": name, "ok": ok, "outcome": outcome})
            say(results=results)
    '''
)


class _Helper:
    """The helper process for one artefact kind, spoken to in JSON lines."""

    def __init__(self, kind: str, root: Path, *args: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        script = root / "helper.py"
        script.write_text(_HELPER, encoding="utf-8")
        env = {**os.environ, "AUTOCODE_HOME": str(root / "home"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, str(script), kind, str(root), *args], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.ready = self.read()

    def read(self) -> dict[str, Any]:
        """The helper's next answer."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the helper died: {err[-1500:]}")
        return dict(json.loads(line))

    def ask(self, **cmd: Any) -> dict[str, Any]:
        """Send one command and return its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        """Stop the helper."""
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _killed(pid: int) -> None:
    """SIGKILL `pid` and wait until the kernel has reaped it (the helper ignores SIGCHLD)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.001)


def _acks(path: Path) -> tuple[list[int], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [int(x) for x in lines if x.isdigit()], [x for x in lines if not x.isdigit()]


def kill_saves(kind: str, title: str, root: Path, kills: int, rng: random.Random, *args: str) -> list[Check]:
    """`kills` trials of save-then-SIGKILL on one artefact, then the hand-broken folders; two Check rows."""
    t0 = time.time()
    helper = _Helper(kind, root, *args)
    try:
        save_s = float(helper.ready["save_s"])
        on_disk = int(helper.ready["gen"])
        broken: list[str] = []
        seen = {"old": 0, "new": 0}
        acked_total = 0
        stored: list[str] = ["warm-up"] if kind == "review" else []  # the helper's one timed decision
        for trial in range(kills):
            acks = root / f"acks-{trial}"
            pid = int(helper.ask(cmd="fork", gen=on_disk, acks=str(acks))["pid"])
            # Anywhere from the first save's start to a few saves in: start-up, files, fsyncs, the swap.
            time.sleep(rng.uniform(0.0, 3.0 * save_s))
            _killed(pid)
            gens, errors = _acks(acks)
            if errors:
                broken.append(f"trial {trial}: the saver failed: {errors[0][:300]}")
                continue
            answer = helper.ask(cmd="check")
            if "error" in answer:
                broken.append(f"trial {trial}: the load failed: {answer['error'][:300]}")
                continue
            if kind == "review":
                keys, integrity = list(answer["keys"]), str(answer["integrity"])
                acked_total += len(gens)
                want = [f"item-{g}" for g in gens]
                new = keys[len(stored):]
                if keys[: len(stored)] != stored or new[: len(want)] != want or len(new) > len(want) + 1:
                    broken.append(f"trial {trial}: decisions {len(keys)} after {len(stored)} + {len(want)} acknowledged")
                if len(keys) != len(set(keys)) or integrity != "ok":
                    broken.append(f"trial {trial}: duplicates or integrity {integrity!r}")
                seen["new" if len(new) > len(want) else "old"] += 1
                stored = keys
                if keys and keys[-1].startswith("item-"):  # a kill before the first decision leaves only "warm-up"
                    on_disk = int(keys[-1].removeprefix("item-"))
                continue
            last = gens[-1] if gens else on_disk
            found = int(answer["gen"])
            if found not in (last, last + 1):
                broken.append(f"trial {trial}: found generation {found}, expected {last} (old) or {last + 1} (new)")
            seen["old" if found == last else "new"] += 1
            on_disk = found
        litter = list(helper.ask(cmd="litter")["litter"])
        cases = list(helper.ask(cmd="broken")["results"])
    finally:
        helper.close()
    if kind == "review":
        what = (f"{kills} kills; {acked_total:,} acknowledged decisions all present in order, "
                f"{seen['new']} committed just before the kill, no duplicates, integrity ok")
    else:
        what = (f"{kills} kills (a save takes {1000 * save_s:.0f} ms; kills up to {3000 * save_s:.0f} ms in), every load whole: "
                f"{seen['old']} old version, {seen['new']} new")
    if litter:
        what += f"; {len(litter)} temporary folders left beside it by killed saves"
    kill_row = Check(PART, f"{title}: saved repeatedly, SIGKILLed at a random moment", kills, len(broken),
                     what if not broken else "; ".join(broken[:3]), time.time() - t0)
    bad = [c for c in cases if not c["ok"]]
    verb = "rebuilt, resolver works" if kind == "employers" else "refused"
    hand_row = Check(PART, f"{title}: broken by hand ({', '.join(c['case'] for c in cases)})", len(cases), len(bad),
                     f"all {len(cases)} {verb} with the project's error naming the path" if not bad and kind != "employers"
                     else f"all {len(cases)} {verb}" if not bad
                     else "; ".join(f"{c['case']}: {c['outcome']}" for c in bad[:3]), 0.0)
    return [kill_row, hand_row]


def run(quick: bool = False) -> list[Check]:
    """Every save, killed mid-write 50 times (quick: 5), and the hand-broken folders."""
    rng = random.Random(SEED)
    kills = 5 if quick else 50
    sample = str(REPO / "data" / "samples" / "survey_sample.csv")
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="autocode-saves-") as tmp:
        work = Path(tmp)
        for kind, title, args in (
            ("index", "VectorIndex.save (40,001 x 64, flat)", ()),
            ("model", "trained model folder (save_model, as `autocode train` writes it)", (ENCODER, sample)),
            ("employers", "employer name index cache in AUTOCODE_HOME/indexes", (ENCODER, "1000")),
            ("review", "review decisions store (ReviewStore.add)", ()),
        ):
            t0 = time.time()
            try:
                checks.extend(kill_saves(kind, title, work / kind, kills, rng, *args))
            except Exception as exc:  # noqa: BLE001 - one broken artefact is a failed row; the others still run
                checks.append(Check(PART, title, 1, 1, f"raised {type(exc).__name__}: {exc}"[:400], time.time() - t0))
    return checks
