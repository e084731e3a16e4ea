"""A non-editable install carries the code and the data files, and runs outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("autocode-*.whl")
    return built


def test_wheel_holds_packages_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in [
        "service/cli.py",
        "classifiers/codebook.py",
        "embeddings/encoder.py",
        "autocode_data/codebooks/isic4.yaml",
        "autocode_data/codebooks/gics.yaml",
        "autocode_data/codebooks/m49.yaml",
        "autocode_data/codebooks/employer-support.yaml",
        "autocode_data/samples/survey_sample.csv",
        "autocode_data/SOURCES.md",
    ]:
        assert expected in names, expected
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "autocode = service.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_unpacked_wheel_loads_builtin_codebooks_away_from_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "from classifiers.codebook import load_codebook; import classifiers; print(len(load_codebook('isic4')), classifiers.__file__)"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, location = out.stdout.split()
    assert int(count) == 21 + 88
    assert location.startswith(str(site))
