"""`autocode code-docs --engine ray` on a real local Ray (the session's `ray.init(num_cpus=2)`): the local engine's
output files byte for byte, over several batches of chunks, one passage shared across batches, and bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.service.cli import app
from tests.service.test_code_docs import _plain, pdf

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed (pip install -e '.[ray]')")
BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # CC BY 4.0 subset (tests/data/SOURCES.md)
AUTOCODE = Path(sys.executable).with_name("autocode")
runner = CliRunner()


def documents(root: Path) -> Path:
    """Four formats and a cut PDF, then Markdown enough for three batches of chunks, the third repeating the first's
    first message (heading and all)."""
    import docx

    root.mkdir()
    pdf(root / "a-incident.pdf", [("Annual summary", "This report describes our branch opening hours and staff."),
                                  ("What happened", "Someone stole my card on the train yesterday and I need it blocked.")])
    document = docx.Document()
    document.add_heading("Travel money", level=1)
    document.add_paragraph("What exchange rate will I get when I pay in euros abroad? Is the rate fixed?")
    document.save(str(root / "a-travel.docx"))
    (root / "a-pin.html").write_text("<html><body><main><h1>Help request</h1><p>My PIN is blocked after three wrong "
                                     "tries. How do I unblock it?</p></main></body></html>", encoding="utf-8")
    (root / "a-kids.md").write_text("# Accounts for children\n\nWhat is the minimum age to open an account?\n",
                                    encoding="utf-8")
    good = (root / "a-incident.pdf").read_bytes()
    (root / "a-cut.pdf").write_bytes(good[: len(good) // 2])
    # Then 22 Markdown files of 26 one-message sections: three batches of chunks (the first two full).
    texts = pd.concat([pd.read_csv(BANKING / f"{part}.csv") for part in ("train", "test")])["text"].drop_duplicates().tolist()
    for n in range(22):
        sections = [(f"Message {n}.{m}", text) for m, text in enumerate(texts[n * 26: (n + 1) * 26])]
        if n == 21:
            sections[0] = ("Message 0.0", texts[0])  # the first batch's passage in the third: one actor, in order
        body = "".join(f"## {heading}\n\n{text}\n\n" for heading, text in sections)
        (root / f"b-{n:02d}.md").write_text(body, encoding="utf-8")
    return root


def test_code_docs_on_ray_writes_what_the_local_engine_writes(local_ray: None, tmp_path: Path) -> None:
    folder = documents(tmp_path / "docs")
    args = ["--codebook", "employer-support", "--workers", "2"]
    # The local engine in a fresh process, as a user runs it (this process's encoder cache holds other batches'
    # vectors), at the same time as the Ray engine here.
    with (tmp_path / "local.log").open("wb") as log:
        local = subprocess.Popen([str(AUTOCODE), "code-docs", str(folder), "-o", str(tmp_path / "local.csv"), "--sections",
                                  str(tmp_path / "local-sections.csv"), *args], stdout=log, stderr=subprocess.STDOUT)
        result = runner.invoke(app, ["code-docs", str(folder), "-o", str(tmp_path / "ray.csv"), "--sections",
                                     str(tmp_path / "ray-sections.csv"), "--engine", "ray", *args])
        local.wait(timeout=600)
    assert local.returncode == 0, (tmp_path / "local.log").read_text()
    assert result.exit_code == 0, result.output
    said = _plain(result.output)
    assert "engine ray: 3 batches in 2 calls on 2 actor(s)" in said and "not readable 1" in said
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()  # byte for byte
    assert (tmp_path / "ray-sections.csv").read_bytes() == (tmp_path / "local-sections.csv").read_bytes()
    # The Ray run kept every document in the job's resume file: the local engine resumes all of it, the same bytes.
    again = runner.invoke(app, ["code-docs", str(folder), "-o", str(tmp_path / "ray.csv"), "--resume", *args])
    assert again.exit_code == 0, again.output
    assert "from the earlier run 27" in _plain(again.output)
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    rows = pd.read_csv(tmp_path / "ray.csv", dtype=str, keep_default_na=False)
    assert len(rows) == 5 + 22 and rows["error"].ne("").sum() == 1
    assert rows.loc[rows["path"].str.endswith("a-incident.pdf"), "pages"].item() == "2"


def test_batches_that_share_a_text_are_one_call_in_order() -> None:
    from autocode.embeddings.chunking import Chunk
    from autocode.service.batch.ray_engine import call_groups
    from autocode.service.documents.chunks import Passage
    from autocode.service.documents.runner import Pending

    def doc(*chunks: str) -> Pending:
        parts = [Passage(Chunk(n, 0, len(c), c), None, "") for n, c in enumerate(chunks)]
        return Pending(Path("x.txt"), "txt", None, 0, "\n\n".join(chunks), parts)

    batches = [[doc("alpha")], [doc("beta")], [doc("gamma"), doc("alpha")], [doc("delta")], [doc("beta", "delta")]]
    assert call_groups(batches) == [[0, 2], [1, 3, 4]]
    assert call_groups([[doc("one")], [doc("two")]]) == [[0], [1]]
    # A multi-label model encodes each document's clauses as well: a shared clause joins the batches too.
    said = [[doc("My card is lost, and my PIN is blocked.")], [doc("Where is my money, and my PIN is blocked.")]]
    assert call_groups(said) == [[0], [1]]
    assert call_groups(said, clauses=True) == [[0, 1]]
    assert call_groups([]) == []
