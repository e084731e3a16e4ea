"""The README's Python API example runs as written, and `import autocode` stays light."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- python-api-example: run by tests/test_public_api.py -->"


def readme_example() -> str:
    """The fenced Python block right after the marker in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, flags=re.S)
    assert found, "README.md lost its Python API example"
    return found.group(1)


@pytest.mark.slow
def test_readme_python_example_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_example(), encoding="utf-8")
    env = {**os.environ, "AUTOCODE_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, check=False, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].split()[0] == __import__("autocode").__version__
    assert "DBS Group Holdings Ltd SG K" in out.stdout  # the employer line: record, country, ISIC section
    assert "Singapore Airlines" in lines[-1]
    assert (tmp_path / "support-model" / "model.json").is_file()


def test_import_autocode_is_light_and_lists_its_names() -> None:
    code = ("import sys, autocode; heavy = [m for m in ('torch', 'pandas', 'sentence_transformers', 'faiss') if m in sys.modules];"
            "print(heavy, autocode.__version__, 'Coder' in dir(autocode), autocode.Coder.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["[]", __import__("autocode").__version__, "True", "autocode.api"]


def test_unknown_name_is_an_attribute_error() -> None:
    import autocode

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        autocode.Nope
    assert set(autocode.__all__) >= {"Coder", "EmployerCoder", "evaluate", "load_codebook", "Prediction", "NotFoundError"}
    assert sorted(autocode.__all__) == sorted(["__version__", *autocode._EXPORTS])  # the literal list and the lazy table agree


def test_coder_refuses_rows_without_codes_and_unknown_parameters() -> None:
    import autocode

    with pytest.raises(ValueError, match="row 2: no code"):
        autocode.Coder(codebook="employer-support").fit(["paid fees", "nothing"], ["fees_full", ""])
    with pytest.raises(ValueError, match="unknown parameter 'k'"):
        autocode.Coder().set_params(k=3)
    with pytest.raises(RuntimeError, match="not fitted"):
        autocode.Coder(codebook="employer-support").predict(["x"])
    params = autocode.Coder(codebook="isic4", target_accuracy=0.9).get_params()
    assert params["codebook"] == "isic4" and params["target_accuracy"] == 0.9
