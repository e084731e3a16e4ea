"""The wheel installs one namespace, `autocode`, with its data, and works beside a user's own `service/` folder."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = {"autocode", "autocode-0.1.0.dist-info"}


def _subpackages(folder: Path, prefix: str) -> set[str]:
    return {prefix + "." + ".".join(p.parent.relative_to(folder).parts) if p.parent != folder else prefix
            for p in folder.rglob("__init__.py")}


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


def test_wheel_holds_one_namespace_every_subpackage_and_the_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n.split("/")[0] for n in names} == TOP_LEVEL  # no bare service/, classifiers/, embeddings/
    expected_packages = {"autocode"} | set().union(
        *(_subpackages(ROOT / folder, f"autocode.{folder}") for folder in ("service", "classifiers", "embeddings", "data"))
    )
    for package in expected_packages:  # a sub-package missing from pyproject's list would be left out
        assert package.replace(".", "/") + "/__init__.py" in names, package
    for expected in [
        "autocode/py.typed",
        "autocode/data/codebooks/isic4.yaml",
        "autocode/data/codebooks/gics.yaml",
        "autocode/data/codebooks/m49.yaml",
        "autocode/data/codebooks/employer-support.yaml",
        "autocode/data/samples/survey_sample.csv",
        "autocode/data/SOURCES.md",
    ]:
        assert expected in names, expected
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "autocode = autocode.service.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_works_beside_a_folder_named_service(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    fresh = venv / "bin" / "python"
    fresh_site = Path(subprocess.run([str(fresh), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    # autocode's dependencies (torch, faiss...) come from this environment's site-packages as a plain path entry:
    # .pth files there are not processed, so the checkout's editable install is not visible to the fresh venv.
    (fresh_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(fresh), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    user = tmp_path / "project"
    (user / "service").mkdir(parents=True)
    (user / "service" / "__init__.py").write_text("raise ImportError('the user project service package')\n")
    (user / "classifiers").mkdir()
    (user / "classifiers" / "__init__.py").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import autocode, autocode.classifiers as c; "
            "from autocode.classifiers.codebook import load_codebook; "
            "print(autocode.__version__, len(load_codebook('isic4')), c.__file__)")
    out = subprocess.run([str(fresh), "-c", code], cwd=user, env=env, capture_output=True, check=False, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    version, count, location = out.stdout.split()
    assert version == "0.1.0" and int(count) == 21 + 88
    assert location.startswith(str(fresh_site))
    cli = subprocess.run([str(fresh), "-m", "autocode", "codebooks", "list"], cwd=user, env=env,
                         capture_output=True, check=False, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "employer-support" in cli.stdout
    script = subprocess.run([str(venv / "bin" / "autocode"), "codebooks", "show", "m49", "--limit", "3"], cwd=user,
                            env=env, capture_output=True, check=False, text=True, timeout=120)
    assert script.returncode == 0, script.stderr
