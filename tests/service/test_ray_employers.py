"""`autocode employers --engine ray` on a real local Ray that the CLI starts (`ray.init(num_cpus=2)` for `--workers 2`):
the whole gazetteer's resolver on each actor, and the local engine's output byte for byte."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from typer.testing import CliRunner

from autocode.service.cli import app

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed (pip install -e '.[ray]')")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"
AUTOCODE = Path(sys.executable).with_name("autocode")
runner = CliRunner()
CHUNKS = ("--chunk-rows", "25")  # the sample's 50 rows in two chunks: two calls, so both actors can take one


@pytest.fixture
def no_ray_yet() -> Iterator[None]:
    """No Ray before the test (so the CLI starts its own), none left after it."""
    if ray.is_initialized():
        ray.shutdown()
    yield
    ray.shutdown()


def employers_local(data: Path, out: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """The local engine in a fresh process, as a user runs it (this process's encoder cache holds other batches)."""
    return subprocess.Popen([str(AUTOCODE), "employers", str(data), "-c", "employer", "-o", str(out), "--show", "0",
                             *CHUNKS], stdout=log, stderr=subprocess.STDOUT)


def test_employers_on_ray_write_what_the_local_engine_writes(no_ray_yet: None, tmp_path: Path) -> None:
    # Both engines run at once: each process spends its half minute building the resolver on one core, which two
    # cores can do for the local process and the two actors in little more time than for one.
    with (tmp_path / "local.log").open("wb") as log:
        local = employers_local(SAMPLE, tmp_path / "local.csv", log)
        assert not ray.is_initialized()
        result = runner.invoke(app, ["employers", str(SAMPLE), "-c", "employer", "-o", str(tmp_path / "ray.csv"),
                                     "--show", "0", "--engine", "ray", "--workers", "2", *CHUNKS])
        local.wait(timeout=600)
    assert local.returncode == 0, (tmp_path / "local.log").read_text()
    assert result.exit_code == 0, result.output
    assert "engine ray: 50 distinct answers on 2 actor(s)" in result.output
    assert ray.cluster_resources().get("CPU") == 2  # the CLI's own Ray, sized by --workers
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()  # byte for byte
