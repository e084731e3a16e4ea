"""`autocode employers --engine ray` on a real local Ray (the session's `ray.init(num_cpus=2)`): the resolver built
once on each actor, against the driver's reference (here Singapore's records of the gazetteer, so that each of the
three processes builds it in seconds, not half a minute), and the local engine's output byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.service.cli import app

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed (pip install -e '.[ray]')")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "survey_sample.csv"
runner = CliRunner()
CHUNKS = ("--chunk-rows", "25")  # the sample's 50 rows in two chunks: two calls, so both actors can take one
# `autocode` with the reference swapped first, as `use_reference` does in this process (the command has no option).
LOCAL = ("import sys, pandas; from autocode.service.employer_engine import use_reference; "
         "use_reference(pandas.read_pickle(sys.argv.pop(1))); from autocode.service.cli import main; main()")


def test_employers_on_ray_write_what_the_local_engine_writes(local_ray: None, tmp_path: Path) -> None:
    from autocode.classifiers.employers.gazetteer import load_gazetteer
    from autocode.service.employer_engine import use_reference

    gazetteer = load_gazetteer()
    reference = gazetteer[gazetteer["country"] == "SG"].reset_index(drop=True)
    reference.to_pickle(tmp_path / "reference.pkl")  # pickled, so the lists in its columns come back as lists
    # Both engines run at once: the local engine in a fresh process, as a user runs it (this process's encoder cache
    # holds other batches), building its resolver while the actors build theirs.
    with (tmp_path / "local.log").open("wb") as log:
        local = subprocess.Popen([sys.executable, "-c", LOCAL, str(tmp_path / "reference.pkl"), "employers", str(SAMPLE),
                                  "-c", "employer", "-o", str(tmp_path / "local.csv"), "--show", "0", *CHUNKS],
                                 stdout=log, stderr=subprocess.STDOUT)
        use_reference(reference)
        try:
            result = runner.invoke(app, ["employers", str(SAMPLE), "-c", "employer", "-o", str(tmp_path / "ray.csv"),
                                         "--show", "0", "--engine", "ray", "--workers", "2", *CHUNKS])
        finally:
            use_reference(None)
        local.wait(timeout=600)
    assert local.returncode == 0, (tmp_path / "local.log").read_text()
    assert result.exit_code == 0, result.output
    assert "engine ray: 50 distinct answers on 2 actor(s)" in result.output
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()  # byte for byte
    coded = pd.read_csv(tmp_path / "ray.csv", dtype=str, keep_default_na=False).set_index("employer")["employer_employer"]
    assert coded["dbs bank singapore"] == "DBS Group Holdings Ltd"
    assert set(coded) - {""} <= set(reference["name"])  # resolved against the Singapore records only
