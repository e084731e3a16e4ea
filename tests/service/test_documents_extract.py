"""Document extraction on real files made here: PDF (reportlab), DOCX (python-docx), HTML, Markdown, text; and bad ones."""

from __future__ import annotations

import io
import pickle
import sys
import zipfile
from pathlib import Path

import pytest

from autocode.errors import InvalidError, NotFoundError
from autocode.service.documents.extract import (
    SUFFIXES,
    Document,
    DocumentError,
    _ordered,
    extract_all,
    find_documents,
    read_document,
)

BODY = ("Employers often pay course fees for staff who study part time, and many also give paid study leave before "
        "the examinations begin in the summer term.")


def two_page_pdf() -> bytes:
    """Two pages, a Heading1 and body paragraphs on each."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4).build([
        Paragraph("Training support", styles["Heading1"]),
        Paragraph(BODY, styles["BodyText"]),
        Paragraph("A second paragraph about mentoring and coaching at work.", styles["BodyText"]),
        PageBreak(),
        Paragraph("Pay and benefits", styles["Heading1"]),
        Paragraph("The company offers a pension scheme and a yearly bonus to every employee.", styles["BodyText"]),
    ])
    return buffer.getvalue()


def image_only_pdf() -> bytes:
    """One page with a drawn rectangle and no text."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.rect(100, 100, 200, 300, fill=1)
    page.showPage()
    page.save()
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    """The two-page PDF locked with a user password."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(two_page_pdf()))
    writer.encrypt(user_password="secret", algorithm="RC4-128")  # RC4: no cryptography package needed to write it
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def sample_docx(path: Path) -> Path:
    """Title, Heading 1/Heading 2 paragraphs, body text and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Staff survey", level=0)
    document.add_paragraph("Answers collected in spring.")
    document.add_heading("Training", level=1)
    document.add_paragraph("My employer paid the course fees.")
    document.add_heading("Study leave", level=2)
    document.add_paragraph("Two days of leave before each exam.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Benefit"
    table.cell(0, 1).text = "Share"
    table.cell(1, 0).text = "Mentoring scheme"
    table.cell(1, 1).text = "40 percent"
    document.save(str(path))
    return path


HTML = """<!doctype html><html><head><title>Careers</title><style>.x{color:red}</style>
<script>var tracking = "scriptword";</script></head>
<body>
<header><a href="/">Logo headerword</a></header>
<nav><ul><li>Home navword</li><li>About</li></ul></nav>
<div role="navigation">rolenavword</div>
<main><article>
  <h1>Learning at work</h1>
  <p>We <b>fund</b> courses for every employee.</p>
  <div>Loose text inside a div stays.</div>
  <h2>Mentoring</h2>
  <ul><li>Each new starter gets a mentor.</li></ul>
  <noscript>noscriptword</noscript>
</article></main>
<aside>asideword</aside>
<footer>Copyright footerword</footer>
</body></html>"""

MARKDOWN = """Intro before any heading.

# Benefits

The pension is matched.
Second line of the same paragraph.

## Leave #

Parental leave is paid.

```
# not a heading inside code
```
"""


def test_two_page_pdf_has_pages_headings_and_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(two_page_pdf())
    doc = read_document(path)
    assert (doc.kind, doc.pages, doc.path) == ("pdf", 2, path)
    assert [(s.page, s.heading) for s in doc.sections] == [(1, "Training support"), (2, "Pay and benefits")]
    first = doc.sections[0].text.split("\n\n")
    assert first == [BODY, "A second paragraph about mentoring and coaching at work."]  # wrapped lines rejoined
    assert doc.sections[1].text == "The company offers a pension scheme and a yearly bonus to every employee."
    assert doc.characters == sum(len(s.text) for s in doc.sections)


def test_pdf_section_never_spans_pages_and_carries_its_heading(tmp_path: Path) -> None:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    path = tmp_path / "long.pdf"
    SimpleDocTemplate(str(path)).build([Paragraph("Overview", styles["Heading1"]), Paragraph(BODY, styles["BodyText"]),
                                        PageBreak(), Paragraph("More text on the next page, still under the overview.",
                                                               styles["BodyText"])])
    doc = read_document(path)
    assert [(s.page, s.heading) for s in doc.sections] == [(1, "Overview"), (2, "Overview")]
    assert doc.sections[1].text.startswith("More text on the next page")


def test_pdf_outline_gives_the_headings(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "outlined.pdf"
    page = canvas.Canvas(str(path))
    for n, (title, text) in enumerate([("Chapter one", "Body of the first chapter."), ("Chapter two", "Body of the second.")]):
        page.bookmarkPage(f"c{n}")
        page.addOutlineEntry(title, f"c{n}", level=0)
        page.drawString(72, 750, title)
        page.drawString(72, 730, text)
        page.drawString(72, 710, "short line no period")  # the heuristic would take this as a heading; the outline does not
        page.drawString(72, 690, "Closing sentence of the page.")
        page.showPage()
    page.save()
    doc = read_document(path)
    assert [(s.page, s.heading) for s in doc.sections] == [(1, "Chapter one"), (2, "Chapter two")]
    assert "short line no period" in doc.sections[0].text


@pytest.mark.parametrize(("maker", "reason"), [
    (image_only_pdf, "no text layer (an image-only or scanned PDF); OCR is out of scope"),
    (encrypted_pdf, "encrypted PDF: cannot read without its password"),
])
def test_unreadable_pdfs_say_why(tmp_path: Path, maker: object, reason: str) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(maker())  # type: ignore[operator]
    with pytest.raises(DocumentError) as caught:
        read_document(path)
    assert caught.value.reason == reason and caught.value.path == path
    assert str(caught.value) == f"{path}: {reason}"
    assert isinstance(caught.value, InvalidError)


def test_truncated_pdf_and_page_limit(tmp_path: Path) -> None:
    data = two_page_pdf()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DocumentError, match=r"not a readable PDF \(.+\)"):
        read_document(cut)
    whole = tmp_path / "whole.pdf"
    whole.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        read_document(whole, max_pages=1)
    assert caught.value.reason == "2 pages, over the limit of 1"


def test_docx_headings_body_and_table(tmp_path: Path) -> None:
    doc = read_document(sample_docx(tmp_path / "survey.docx"))
    assert (doc.kind, doc.pages) == ("docx", None)
    got = [(s.page, s.heading, s.text) for s in doc.sections]
    assert got == [
        (None, "Staff survey", "Answers collected in spring."),
        (None, "Training", "My employer paid the course fees."),
        (None, "Study leave", "Two days of leave before each exam.\n\nBenefit\n\nShare\n\nMentoring scheme\n\n40 percent"),
    ]


def test_not_a_docx(tmp_path: Path) -> None:
    fake = tmp_path / "fake.docx"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("hello.txt", "just a zip")
    with pytest.raises(DocumentError, match=r"fake\.docx: not a DOCX file \(.+\)"):
        read_document(fake)
    plain = tmp_path / "plain.docx"
    plain.write_bytes(b"not even a zip")
    with pytest.raises(DocumentError, match=r"not a DOCX file \(.+\)"):
        read_document(plain)


def test_html_main_text_without_boilerplate(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = read_document(path)
    assert doc.kind == "html" and doc.pages is None
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Learning at work", "We fund courses for every employee.\n\nLoose text inside a div stays."),
        ("Mentoring", "Each new starter gets a mentor."),
    ]
    everything = " ".join(s.heading + " " + s.text for s in doc.sections)
    for word in ("scriptword", "headerword", "navword", "rolenavword", "noscriptword", "asideword", "footerword", "color"):
        assert word not in everything


def test_html_without_main_uses_body_and_keeps_div_text(tmp_path: Path) -> None:
    path = tmp_path / "plain.htm"
    path.write_text("<html><body><div>Top text<div>inner <span>part</span></div>tail</div><h3>Next</h3><p>end</p></body></html>")
    doc = read_document(path)
    assert [(s.heading, s.text) for s in doc.sections] == [("", "Top text\n\ninner part\n\ntail"), ("Next", "end")]


def test_html_listing_of_several_articles_keeps_them_all(tmp_path: Path) -> None:
    path = tmp_path / "news.html"
    path.write_text("<body><nav>menu</nav><article><h2>One</h2><p>first story</p></article>"
                    "<article><h2>Two</h2><p>second story</p></article></body>")
    doc = read_document(path)
    assert [(s.heading, s.text) for s in doc.sections] == [("One", "first story"), ("Two", "second story")]


def test_markdown_and_text(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_bytes(b"\xef\xbb\xbf" + MARKDOWN.encode("utf-8"))  # a byte-order mark is fine
    doc = read_document(md)
    assert doc.kind == "markdown"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("", "Intro before any heading."),
        ("Benefits", "The pension is matched.\nSecond line of the same paragraph."),
        ("Leave", "Parental leave is paid.\n\n```\n# not a heading inside code\n```"),
    ]
    txt = tmp_path / "plain.txt"
    txt.write_text("# not a heading in text\n\nsecond paragraph\r\n\r\n\r\nthird\n", encoding="utf-8")
    doc = read_document(txt)
    assert [(s.page, s.heading, s.text) for s in doc.sections] == [
        (None, "", "# not a heading in text\n\nsecond paragraph\n\nthird")]


def test_text_errors_limits_and_suffixes(tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    with pytest.raises(DocumentError) as caught:
        read_document(latin)
    assert caught.value.reason == "undecodable text: not UTF-8 (byte offset 3)"
    big = tmp_path / "big.md"
    big.write_text("word " * 100)
    with pytest.raises(DocumentError) as caught:
        read_document(big, max_bytes=50)
    assert caught.value.reason == "500 bytes, over the limit of 50"
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n")
    with pytest.raises(DocumentError) as caught:
        read_document(blank)
    assert caught.value.reason == "no text"
    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(DocumentError, match=r"'\.xlsx'.*\.docx.*\.pdf") as caught:
        read_document(sheet)
    assert all(suffix in caught.value.reason for suffix in SUFFIXES)


def test_document_error_survives_pickle() -> None:
    error = pickle.loads(pickle.dumps(DocumentError(Path("a.pdf"), "no text")))
    assert (error.path, error.reason, str(error)) == (Path("a.pdf"), "no text", "a.pdf: no text")


def test_find_documents_recurses_filters_and_dedupes(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub" / "deep").mkdir(parents=True)
    for name in ("a.pdf", "b.txt", "skip.xlsx", "sub/c.md", "sub/draft.docx", "sub/deep/d.HTML", "sub/deep/e.htm"):
        (root / name).write_text("x")
    every = find_documents([root])
    assert every == sorted(every)
    assert [p.relative_to(root).as_posix() for p in every] == ["a.pdf", "b.txt", "sub/c.md", "sub/deep/d.HTML",
                                                                "sub/deep/e.htm", "sub/draft.docx"]
    # The same file twice (the folder and the file itself) comes out once.
    assert find_documents([root, root / "a.pdf", root / "sub"]) == every
    # Globs match the path relative to the folder given, or the name.
    assert [p.name for p in find_documents([root], include=["sub/*"], exclude=["draft*"])] == ["c.md", "d.HTML", "e.htm"]
    assert [p.name for p in find_documents([root], include=["*.md", "a.pdf"])] == ["a.pdf", "c.md"]
    assert [p.name for p in find_documents([root], exclude=["sub/deep/*", "*.txt"])] == ["a.pdf", "c.md", "draft.docx"]
    with pytest.raises(NotFoundError, match="missing-folder"):
        find_documents([root, tmp_path / "missing-folder"])


def mixed_folder(tmp_path: Path) -> dict[str, str | None]:
    """One of each kind, good and bad; the expected DocumentError reason by name (None: a Document)."""
    (tmp_path / "good.pdf").write_bytes(two_page_pdf())
    (tmp_path / "locked.pdf").write_bytes(encrypted_pdf())
    (tmp_path / "scan.pdf").write_bytes(image_only_pdf())
    sample_docx(tmp_path / "survey.docx")
    (tmp_path / "page.html").write_text(HTML, encoding="utf-8")
    (tmp_path / "notes.md").write_text(MARKDOWN, encoding="utf-8")
    (tmp_path / "latin.txt").write_bytes("caf\u00e9".encode("latin-1"))
    return {"good.pdf": None, "latin.txt": "undecodable text: not UTF-8 (byte offset 3)",
            "locked.pdf": "encrypted PDF: cannot read without its password", "notes.md": None, "page.html": None,
            "scan.pdf": "no text layer (an image-only or scanned PDF); OCR is out of scope", "survey.docx": None}


@pytest.mark.parametrize("workers", [0, 2])
def test_extract_all_yields_every_file_in_order(tmp_path: Path, workers: int) -> None:
    expected = mixed_folder(tmp_path)
    paths = find_documents([tmp_path])
    results = list(extract_all(paths, workers=workers))
    assert [p for p, _ in results] == paths
    for path, got in results:
        reason = expected[path.name]
        if reason is None:
            assert isinstance(got, Document) and got.characters > 0, got
        else:
            assert isinstance(got, DocumentError) and got.reason == reason and got.path == path


def test_extract_all_limits_reach_the_workers(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello there")
    (tmp_path / "b.txt").write_text("word " * 50)
    got = dict(extract_all(sorted(tmp_path.iterdir()), workers=2, max_bytes=100))
    assert isinstance(got[tmp_path / "a.txt"], Document)
    error = got[tmp_path / "b.txt"]
    assert isinstance(error, DocumentError) and error.reason == "250 bytes, over the limit of 100"


CRASHER = '''
import os
from autocode.service.documents.extract import read_document

def read_or_die(path):
    if path.name.startswith("crash"):
        os._exit(3)  # as a native crash would: the worker process dies with no exception
    return read_document(path)
'''


def test_a_worker_crash_costs_only_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker function lives in a module the spawned workers can import (they get this sys.path).
    (tmp_path / "crashing_reader.py").write_text(CRASHER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "crashing_reader", raising=False)
    import crashing_reader  # type: ignore[import-not-found]

    folder = tmp_path / "in"
    folder.mkdir()
    names = ["a.txt", "b.txt", "crash.txt", "d.txt", "e.txt", "f.txt"]
    for name in names:
        (folder / name).write_text(f"text of {name}")
    results = list(_ordered([folder / n for n in names], crashing_reader.read_or_die, 2))
    assert [p.name for p, _ in results] == names
    for path, got in results:
        if path.name == "crash.txt":
            assert isinstance(got, DocumentError) and "crashed" in got.reason
        else:
            assert isinstance(got, Document) and got.sections[0].text == f"text of {path.name}"
