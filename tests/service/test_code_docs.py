"""`autocode code-docs` end to end with the real model: real PDF, DOCX, HTML and text files made here, bad ones too."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autocode.service.cli import app

pytestmark = pytest.mark.slow
BANKING = Path(__file__).resolve().parents[1] / "data" / "banking77"  # CC BY 4.0 subset (tests/data/SOURCES.md)
CLASSES = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "pin_blocked", "age_limit", "change_pin"]
runner = CliRunner()


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", text))


def pdf(path: Path, pages: list[tuple[str, str]], password: str | None = None) -> Path:
    """A PDF with one heading and one paragraph per page (reportlab); encrypted when a password is given."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for heading, body in pages:
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 770, heading)
        c.setFont("Helvetica", 11)
        y = 740
        for line in _wrap(body, 90):
            c.drawString(72, y, line)
            y -= 16
        c.showPage()
    c.save()
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter()
        for page in PdfReader(path).pages:
            writer.add_page(page)
        writer.encrypt(password)
        with open(path, "wb") as f:
            writer.write(f)
    return path


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return [*lines, line] if line else lines


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on six Banking77 intents."""
    train = pd.read_csv(BANKING / "train.csv")
    frame = train[train.category.isin(CLASSES)].rename(columns={"text": "answer", "category": "code"})
    data = tmp_path_factory.mktemp("docs-train") / "train.csv"
    frame.to_csv(data, index=False)
    out = data.parent / "model"
    result = runner.invoke(app, ["train", str(data), "-t", "answer", "-l", "code", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Good documents of four formats, and three bad ones."""
    import docx
    from reportlab.pdfgen import canvas

    root = tmp_path / "reports"
    (root / "sub").mkdir(parents=True)
    pdf(root / "incident.pdf", [("Annual summary", "This report describes our branch opening hours and staff."),
                                ("What happened", "Someone stole my card on the train yesterday and I need it blocked "
                                                  "before they use it. My wallet with the card was taken.")])
    document = docx.Document()
    document.add_heading("Travel money", level=1)
    document.add_paragraph("What exchange rate will I get when I pay in euros abroad? Is the rate fixed?")
    document.save(str(root / "sub" / "travel.docx"))
    (root / "pin.html").write_text(
        "<html><body><nav>Home | Accounts | Cards | Log in</nav><header>Big Bank plc</header><main>"
        "<h1>Help request</h1><p>I typed my PIN wrong three times and now my PIN is blocked. How do I unblock it?</p>"
        "</main><footer>Cookies | Privacy | Copyright Big Bank</footer><script>track()</script></body></html>",
        encoding="utf-8")
    (root / "sub" / "kids.md").write_text("# Accounts for children\n\nWhat is the minimum age to open an account "
                                          "for my daughter? Is there an age limit?\n", encoding="utf-8")
    pdf(root / "locked.pdf", [("Secret", "nothing to see")], password="s3cret")
    c = canvas.Canvas(str(root / "scan.pdf"))
    c.rect(100, 100, 300, 300, fill=1)  # a picture, no text layer
    c.showPage()
    c.save()
    good = (root / "incident.pdf").read_bytes()
    (root / "cut.pdf").write_bytes(good[: len(good) // 2])
    return root


def test_a_folder_is_coded_one_row_per_document_with_the_passage_that_decided(model: Path, folder: Path, tmp_path: Path) -> None:
    out, sections = tmp_path / "coded.csv", tmp_path / "sections.csv"
    result = runner.invoke(app, ["code-docs", str(folder), "--model", str(model), "-o", str(out), "--sections",
                                 str(sections), "--workers", "2"])
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    assert "documents 7 · coded 4" in text and "not readable 3" in text
    rows = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("path")
    got = {Path(p).name: r for p, r in rows.iterrows()}
    assert got["incident.pdf"]["codes"] == "lost_or_stolen_card"
    assert (got["incident.pdf"]["page"], got["incident.pdf"]["section"]) == ("2", "What happened")
    assert "stole my card" in got["incident.pdf"]["passage"] and got["incident.pdf"]["pages"] == "2"
    assert got["travel.docx"]["codes"] == "exchange_rate" and got["travel.docx"]["section"] == "Travel money"
    assert got["pin.html"]["codes"] == "pin_blocked" and "Cookies" not in got["pin.html"]["evidence"]
    assert got["kids.md"]["codes"] == "age_limit"
    assert "encrypted" in got["locked.pdf"]["error"] and "no text layer" in got["scan.pdf"]["error"]
    assert got["cut.pdf"]["error"] and got["cut.pdf"]["codes"] == ""
    assert (rows.loc[[p for p in rows.index if p.endswith(("locked.pdf", "scan.pdf", "cut.pdf"))], "needs_review"]
            == "True").all()
    chunks = pd.read_csv(sections, dtype=str, keep_default_na=False)
    pdf_chunks = chunks[chunks["path"].str.endswith("incident.pdf")]
    assert pdf_chunks["page"].tolist() == ["1", "2"] and pdf_chunks["section"].tolist() == ["Annual summary", "What happened"]
    assert pdf_chunks.iloc[1]["top_codes"].split("|")[0] == "lost_or_stolen_card"


def test_resume_codes_only_what_is_new_or_changed(model: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "coded.parquet"
    args = ["code-docs", str(folder), "--model", str(model), "-o", str(out), "--workers", "0"]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0 and "from the earlier run 7" in _plain(again.output)
    (folder / "sub" / "kids.md").write_text("# Cards\n\nWhen will my new card arrive in the post?\n", encoding="utf-8")
    third = runner.invoke(app, [*args, "--resume"])
    assert third.exit_code == 0 and "from the earlier run 6" in _plain(third.output)
    rows = pd.read_parquet(out)
    assert rows.loc[rows["path"].str.endswith("kids.md"), "codes"].item() == "card_arrival"


def test_include_exclude_and_a_zero_shot_codebook(folder: Path, tmp_path: Path) -> None:
    (folder / "support.txt").write_text("My employer paid all my course fees for the diploma.\n", encoding="utf-8")
    out = tmp_path / "support.csv"
    result = runner.invoke(app, ["code-docs", str(folder), "--codebook", "employer-support", "-o", str(out),
                                 "--include", "*.txt", "--workers", "0"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert rows["path"].str.endswith("support.txt").all() and len(rows) == 1
    assert "fees_full" in rows.iloc[0]["codes"].split("|")  # zero-shot gives both fee codes; full is one
    none = runner.invoke(app, ["code-docs", str(folder), "--codebook", "employer-support", "-o", str(out),
                               "--exclude", "*"])
    assert none.exit_code != 0 and "no documents" in _plain(none.output)


def test_train_docs_learns_from_a_folder_and_its_labels(folder: Path, tmp_path: Path) -> None:
    import docx

    train = tmp_path / "train"
    train.mkdir()
    base = pd.read_csv(BANKING / "train.csv")
    rows = []
    for i, r in enumerate(base[base.category.isin(CLASSES)].itertuples()):
        path = train / f"{i:03d}.{'txt' if i % 2 else 'docx'}"
        if i % 2:
            path.write_text(f"Customer message\n\n{r.text}\n", encoding="utf-8")
        else:
            d = docx.Document()
            d.add_heading("Customer message", level=1)
            d.add_paragraph(r.text)
            d.save(str(path))
        rows.append({"path": path.name, "code": r.category})
    rows.append({"path": "missing.txt", "code": "age_limit"})
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    out = tmp_path / "doc-model"
    result = runner.invoke(app, ["train-docs", str(train), "--labels", str(labels), "-o", str(out), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "missing.txt" in _plain(result.output) and f"{len(rows) - 1} documents of {len(rows)}" in _plain(result.output)
    coded = tmp_path / "coded.csv"
    assert runner.invoke(app, ["code-docs", str(folder / "pin.html"), "--model", str(out), "-o", str(coded)]).exit_code == 0
    assert pd.read_csv(coded, dtype=str)["codes"].item() == "pin_blocked"
