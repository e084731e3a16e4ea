"""`autocode code --engine ray` on a real local Ray (the session's `ray.init(num_cpus=2)`): the local engine's output,
a killed actor, a folder of files, bad rows named by file and row."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.service.cli import app

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed (pip install -e '.[ray]')")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"
runner = CliRunner()
AUTOCODE = Path(sys.executable).with_name("autocode")


def generated(path: Path, rows: int, seed: int = 0) -> Path:
    """`rows` answers drawn from the sample's, with spelling variants and a few new ones, as a CSV."""
    rng = random.Random(seed)
    base = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)["support"].tolist()
    answers = []
    for i in range(rows):
        text = rng.choice(base)
        roll = rng.random()
        answers.append(text.upper() if roll < 0.1 else f"{text} ({i % 97})" if roll < 0.3 else text)
    pd.DataFrame({"id": range(rows), "support": answers}).to_csv(path, index=False)
    return path


def code(data: Path, out: Path, *extra: str) -> str:
    """`autocode code` in this process (the Ray engine joins the session's Ray)."""
    result = runner.invoke(app, ["code", str(data), "-c", "support", "--codebook", "employer-support", "-o", str(out),
                                 "--show", "0", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def code_local(data: Path, out: Path) -> Callable[[], None]:
    """The local engine in a fresh process, as a user runs it (this process's encoder cache holds vectors of other
    batches, and a vector's last bit can depend on the batch it was encoded in). Started, so that it loads its model
    while the Ray engine runs here; call what it returns to wait for it (it must succeed)."""
    log_path = out.parent / f"{out.name}.log"
    with log_path.open("wb") as log:
        run = subprocess.Popen([str(AUTOCODE), "code", str(data), "-c", "support", "--codebook", "employer-support", "-o",
                                str(out), "--show", "0"], stdout=log, stderr=subprocess.STDOUT)

    def wait() -> None:
        run.wait(timeout=600)
        assert run.returncode == 0, log_path.read_text()

    return wait


def test_the_same_output_as_the_local_engine(local_ray: None, tmp_path: Path) -> None:
    many = generated(tmp_path / "many.csv", 2000)  # several chunks, each one call
    local = [code_local(many, tmp_path / "local.csv"), code_local(SAMPLE, tmp_path / "local.parquet")]
    said = code(many, tmp_path / "ray.csv", "--engine", "ray", "--workers", "2")
    assert "engine ray" in said
    code(SAMPLE, tmp_path / "ray.parquet", "--engine", "ray")
    for wait in local:
        wait()
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()  # byte for byte
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ray.parquet"), pd.read_parquet(tmp_path / "local.parquet"))


def _decider_pids() -> list[int]:
    """Ray names an actor's process after its class: the pids of the deciding actors."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("ray::") and "_Decider" in cmdline:
                pids.append(int(entry.name))
    return pids


def test_an_actor_killed_mid_run_costs_a_retry_not_the_run(local_ray: None, tmp_path: Path) -> None:
    data = generated(tmp_path / "many.csv", 4000, seed=1)
    local = code_local(data, tmp_path / "local.csv")
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = _decider_pids()
            if pids:
                time.sleep(0.2)  # let it take a batch first (the ONNX encoder decides the whole file in seconds)
                try:
                    os.kill(pids[0], signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it ended first: wait for the next one
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    code(data, tmp_path / "ray.csv", "--engine", "ray", "--workers", "2")
    killer.join()
    local()
    assert killed, "no deciding actor was seen to kill"
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


def test_a_folder_of_files_and_bad_rows_named_by_file(local_ray: None, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    frames = [pd.DataFrame({"id": [1, 2], "support": ["they paid my fees", "time off for lectures"]}),
              pd.DataFrame({"id": [3, 4, 5], "support": ["nothing", "", "my employer paid half"]}),
              pd.DataFrame({"id": [6], "support": ["they paid my fees"]})]
    for name, frame in zip(["a.csv", "b.csv", "c.csv"], frames, strict=True):
        frame.to_csv(folder / name, index=False)
    local = [code_local(folder / name, tmp_path / f"{name}.out.csv") for name in ["a.csv", "b.csv", "c.csv"]]
    said = code(folder, tmp_path / "all.csv", "--engine", "ray")
    for wait in local:
        wait()
    assert re.search(r"b\.csv: row 2: empty cell", said)
    together = pd.read_csv(tmp_path / "all.csv", dtype=str, keep_default_na=False)
    assert together["id"].tolist() == ["1", "2", "3", "4", "5", "6"]
    singles = [pd.read_csv(tmp_path / f"{name}.out.csv", dtype=str, keep_default_na=False) for name in ["a.csv", "b.csv", "c.csv"]]
    pd.testing.assert_frame_equal(together, pd.concat(singles, ignore_index=True))
    assert together.loc[together["id"] == "4", "support_method"].item() == "invalid"
