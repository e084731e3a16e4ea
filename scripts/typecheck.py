"""Run mypy over the installed layout: `autocode.service` is service/, etc., as pyproject's package-dir maps them.

mypy cannot follow setuptools' editable-install finder, so this lays the namespace out as links under
build/typecheck/autocode/ (nothing is copied) and checks `-p autocode` there. Extra arguments go to mypy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout(target: Path) -> Path:
    """Link autocode/'s files and each mapped folder into target/autocode; return target."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(target, ignore_errors=True)
    package = target / "autocode"
    package.mkdir(parents=True)
    for item in (ROOT / "autocode").iterdir():
        if item.suffix in {".py", ".typed"}:
            (package / item.name).symlink_to(item)
    for name, folder in mapping.items():
        (package / name.removeprefix("autocode.")).symlink_to(ROOT / folder, target_is_directory=True)
    return target


def main() -> int:
    """Lay out the namespace and run mypy on it with pyproject's [tool.mypy] settings."""
    where = layout(ROOT / "build" / "typecheck")
    # The cache lives beside the layout, not in it: layout() rebuilds that folder on every run.
    cache = ROOT / "build" / "mypy-cache"
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache),
               "-p", "autocode", *sys.argv[1:]]
    return subprocess.run(command, cwd=where, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
