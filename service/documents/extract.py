"""Text out of documents: PDF, DOCX, HTML, plain text and Markdown, as sections with a heading and (for PDF) a page.

Every reader turns a file into a flat run of blocks, each a heading or a paragraph on a page, and one assembler
turns blocks into sections, so the rules are the same for every format: a heading starts a section; a PDF section
never spans two pages (at a page break the section is split and its heading carried over), so every passage
coded later has exactly one page and one heading; sections with no body are dropped.

Headings come from the format where it has them (DOCX styles, HTML h1-h6, Markdown `#`). A PDF has none in its
text, so its outline (bookmarks) is used when present; otherwise a line is a heading when it starts a paragraph,
is short (at most 80 characters), does not end like a sentence and is followed by body text. That heuristic is
kept simple on purpose: a miss only makes a section longer, never loses text.

A file that cannot be read raises DocumentError with one plain reason (encrypted, corrupt, image-only, over a
limit, undecodable...). `extract_all` reads many files in a process pool, so a parser that hangs memory or
crashes natively on one file costs that file only.
"""

from __future__ import annotations

import fnmatch
import functools
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autocode.errors import InvalidError, NotFoundError

__all__ = ["SUFFIXES", "Document", "DocumentError", "Section", "extract_all", "find_documents", "read_document"]

SUFFIXES: dict[str, str] = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".txt": "txt", ".md": "markdown"}

HEADING_MAX = 80  # a PDF line longer than this is body text, never a heading
_SENTENCE_END = (".", ",", ";")  # a line ending so is prose, not a heading ("Why study?" or "Notes:" may be headings)
_PARAGRAPH_END = re.compile(r"[.!?:][\"'\u201d\u2019)\]]*$")  # a line ending a sentence (quotes and brackets allowed after)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Section:
    """A heading and the body text under it, and the PDF page it starts on."""

    page: int | None  # 1-based page of a PDF where the section starts; None for formats without pages
    heading: str  # the nearest heading above this text ("" before any heading)
    text: str  # the section's body: its paragraphs joined by "\n\n" (the heading not repeated in it)


@dataclass(frozen=True)
class Document:
    """One file's text as sections, with its kind and (for PDF) its page count."""

    path: Path
    kind: str  # a SUFFIXES value
    pages: int | None  # PDF page count; None for other formats
    sections: tuple[Section, ...]

    @property
    def characters(self) -> int:
        """Total characters of all section texts."""
        return sum(len(section.text) for section in self.sections)


class DocumentError(InvalidError):
    """A file that cannot be read as a document, with the reason in words."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from (path, reason), not from the message: errors cross the process pool by pickle.
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class _Block:
    """A heading or a paragraph, on a page (PDF) or None."""

    page: int | None
    heading: bool
    text: str


# --- public API -----------------------------------------------------------------------------------------------


def read_document(path: Path, *, max_bytes: int = 50_000_000, max_pages: int = 2_000) -> Document:
    """Read one file into a Document, or raise DocumentError saying why it cannot be read."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        supported = ", ".join(sorted(SUFFIXES))
        raise DocumentError(path, f"unsupported file type {path.suffix or '(no suffix)'!r}; supported: {supported}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    if size > max_bytes:  # checked before reading, so a huge file is never loaded
        raise DocumentError(path, f"{size} bytes, over the limit of {max_bytes}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    pages: int | None = None
    if kind == "pdf":
        pages, blocks = _pdf_blocks(path, data, max_pages)
    elif kind == "docx":
        blocks = _docx_blocks(path, data)
    elif kind == "html":
        blocks = _html_blocks(data)
    else:
        blocks = _text_blocks(_decode(path, data), markdown=kind == "markdown")
    sections = _assemble(blocks)
    if not sections:
        raise DocumentError(path, "no text")
    return Document(path=path, kind=kind, pages=pages, sections=sections)


def find_documents(inputs: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Path]:
    """Files to read: each input a file or a folder (searched recursively), filtered by globs, sorted, unique."""
    found: dict[Path, Path] = {}  # resolved -> as found, so one file reached twice is read once
    for given in inputs:
        given = Path(given)
        if given.is_dir():
            for folder, dirs, files in os.walk(given):  # followlinks=False: a link loop cannot recurse forever
                dirs.sort()
                for name in files:
                    path = Path(folder) / name
                    if path.suffix.lower() in SUFFIXES and _wanted(path.relative_to(given).as_posix(), name, include, exclude):
                        found.setdefault(path.resolve(), path)
        elif given.exists():
            # A file named outright is kept whatever its suffix, so an unsupported one is reported, not skipped silently.
            if _wanted(given.name, given.name, include, exclude):
                found.setdefault(given.resolve(), given)
        else:
            raise NotFoundError(f"{given}: no such file or folder")
    return sorted(found.values())


def extract_all(paths: Sequence[Path], *, workers: int = 2, max_bytes: int = 50_000_000, max_pages: int = 2_000
                ) -> Iterator[tuple[Path, Document | DocumentError]]:
    """Read every path (in a process pool when workers > 1); yield (path, Document or DocumentError) in input order."""
    worker = functools.partial(_extract_one, max_bytes=max_bytes, max_pages=max_pages)
    return _ordered(list(paths), worker, workers)


# --- the pool -------------------------------------------------------------------------------------------------


def _extract_one(path: Path, *, max_bytes: int, max_pages: int) -> Document | DocumentError:
    """read_document, with any failure returned as that file's DocumentError (it runs in a worker process)."""
    try:
        return read_document(path, max_bytes=max_bytes, max_pages=max_pages)
    except DocumentError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a parser bug on one file must not end the run over the others
        return DocumentError(path, f"could not be read ({type(exc).__name__}: {exc})")


def _ordered(paths: list[Path], worker: Callable[[Path], Document | DocumentError], workers: int
             ) -> Iterator[tuple[Path, Document | DocumentError]]:
    """Run worker over paths, in this process or a pool; results in input order, a crash costing one file."""
    if workers <= 1 or len(paths) <= 1:
        for path in paths:
            yield path, worker(path)
        return
    window = workers * 4  # files in flight: enough to keep every worker busy, few enough to keep memory flat
    todo = deque(paths)
    pool = _pool(workers)
    pending: deque[tuple[Path, Future[Document | DocumentError]]] = deque()
    try:
        while todo or pending:
            while todo and len(pending) < window:
                path = todo.popleft()
                pending.append((path, pool.submit(worker, path)))
            path, future = pending[0]
            try:
                result = future.result()
            except BrokenProcessPool:
                # A worker died (a native crash, or killed for memory) and took the pool down with every file
                # in flight. Retry those files one at a time in fresh one-worker pools, to tell the culprit apart.
                pool.shutdown(wait=False, cancel_futures=True)
                retry = [p for p, _ in pending]
                pending.clear()
                for again in retry:
                    yield again, _alone(again, worker)
                pool = _pool(workers)
                continue
            pending.popleft()
            yield path, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _alone(path: Path, worker: Callable[[Path], Document | DocumentError]) -> Document | DocumentError:
    """worker(path) in its own one-worker pool, so a crash is this file's alone."""
    with _pool(1) as pool:
        try:
            return pool.submit(worker, path).result()
        except BrokenProcessPool:
            return DocumentError(path, "the reader crashed on this file (its process died)")


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool that spawns fresh interpreters: forking a process that holds threads (a server, BLAS) is unsafe."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _wanted(relative: str, name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether a file passes the include globs (any, when given) and none of the exclude globs."""
    def hit(globs: Sequence[str]) -> bool:
        return any(fnmatch.fnmatch(relative, g) or fnmatch.fnmatch(name, g) for g in globs)
    return (not include or hit(include)) and not hit(exclude)


# --- sections ---------------------------------------------------------------------------------------------------


def _assemble(blocks: Iterable[_Block]) -> tuple[Section, ...]:
    """Blocks into sections: a heading or a new page starts one; sections with an empty body are dropped."""
    sections: list[Section] = []
    heading = ""
    page: int | None = None
    body: list[str] = []

    def close() -> None:
        if body:
            sections.append(Section(page=page, heading=heading, text="\n\n".join(body)))
        body.clear()

    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if block.heading:
            close()
            heading, page = text, block.page
            continue
        if block.page != page:
            close()  # a section never spans pages: split here, the heading carried over
            page = block.page
        body.append(text)
    close()
    return tuple(sections)


def _clean(text: str) -> str:
    """Runs of spaces to one, and no space at either end: whitespace from markup or layout carries no meaning."""
    return _SPACES.sub(" ", text).strip()


# --- PDF --------------------------------------------------------------------------------------------------------


def _pdf_blocks(path: Path, data: bytes, max_pages: int) -> tuple[int, list[_Block]]:
    """The PDF's page count and its blocks, page by page."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many PDFs are encrypted only with an owner password and open so
            except (DependencyError, NotImplementedError) as exc:  # AES without the cryptography package, say
                raise DocumentError(path, f"encrypted PDF: cannot read without its password ({exc})") from exc
            if not opened:
                raise DocumentError(path, "encrypted PDF: cannot read without its password")
        count = len(reader.pages)
        if count > max_pages:
            raise DocumentError(path, f"{count} pages, over the limit of {max_pages}")
        texts = [page.extract_text() or "" for page in reader.pages]
        outline = _pdf_outline(reader)
    except DocumentError:
        raise
    except FileNotDecryptedError as exc:
        raise DocumentError(path, "encrypted PDF: cannot read without its password") from exc
    except Exception as exc:  # pypdf raises many kinds (PdfReadError, KeyError, ValueError...) on bad bytes
        raise DocumentError(path, f"not a readable PDF ({exc or type(exc).__name__})") from exc
    if not any(text.strip() for text in texts):
        raise DocumentError(path, "no text layer (an image-only or scanned PDF); OCR is out of scope")
    blocks: list[_Block] = []
    for number, text in enumerate(texts, start=1):
        # With an outline, it alone names headings (a page without entries has none); without, the heuristic does.
        blocks.extend(_pdf_page_blocks(number, text, outline.get(number, [] if outline else None)))
    return count, blocks


def _pdf_outline(reader: Any) -> dict[int, list[str]]:
    """Outline (bookmark) titles by 1-based page; empty when the PDF has none or it cannot be read."""
    titles: dict[int, list[str]] = {}

    def walk(items: Any) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
                continue
            try:
                number = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001, S112 - a broken bookmark only loses that heading, never the text
                continue
            title = _clean(str(getattr(item, "title", "") or ""))
            if title and number is not None and number >= 0:
                titles.setdefault(number + 1, []).append(title)

    try:
        walk(reader.outline)
    except Exception:  # noqa: BLE001 - same: an unreadable outline falls back to the line heuristic
        return {}
    return titles


def _pdf_page_blocks(page: int, text: str, outline: list[str] | None) -> list[_Block]:
    """One page's text into blocks: lines joined into paragraphs; headings from the outline, else the heuristic."""
    lines = [_clean(line) for line in text.splitlines()]
    # A bare number as the first or last line is a page number, not text.
    while lines and (not lines[-1] or lines[-1].isdigit()):
        lines.pop()
    while lines and (not lines[0] or lines[0].isdigit()):
        lines.pop(0)
    longest = max((len(line) for line in lines), default=0)
    wanted = {title.casefold() for title in outline or ()}
    found: set[str] = set()
    blocks: list[_Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(_Block(page, False, _join_lines(paragraph)))
        paragraph.clear()

    # The next non-blank line after each line, found once from the end (a table page can have thousands of lines).
    following = [""] * len(lines)
    for i in range(len(lines) - 2, -1, -1):
        following[i] = lines[i + 1] or following[i + 1]
    for i, line in enumerate(lines):
        if not line:
            flush()  # a blank line always ends a paragraph
            continue
        starts_paragraph = not paragraph
        if outline is not None:
            is_heading = line.casefold() in wanted
        else:
            is_heading = starts_paragraph and _heading_like(line) and bool(following[i]) and not _heading_like(following[i])
        if is_heading:
            flush()
            blocks.append(_Block(page, True, line))
            found.add(line.casefold())
            continue
        paragraph.append(line)
        # A line that ends a sentence and falls short of the page's width ends its paragraph: pypdf gives no
        # blank line between paragraphs, but a wrapped line runs to the margin.
        if _PARAGRAPH_END.search(line) and len(line) < 0.9 * longest:
            flush()
    flush()
    # Outline titles the text does not show as a line (drawn differently, say) still head the page's text.
    missing = [t for t in outline or () if t.casefold() not in found]
    if missing:
        blocks.insert(0, _Block(page, True, missing[0]))
    return blocks


def _heading_like(line: str) -> bool:
    """Short, not ending like a sentence, and not starting in lower case."""
    return (len(line) <= HEADING_MAX and not line.endswith(_SENTENCE_END) and any(c.isalpha() for c in line)
            and not line[0].islower())


def _join_lines(lines: list[str]) -> str:
    """Wrapped lines back into one paragraph; a word hyphenated at the margin is joined without a space."""
    out = lines[0]
    for line in lines[1:]:
        if out.endswith("-") and line[:1].islower():
            out += line
        else:
            out += " " + line
    return out


# --- DOCX -------------------------------------------------------------------------------------------------------


def _docx_blocks(path: Path, data: bytes) -> list[_Block]:
    """Paragraphs and table cells in body order; Heading n and Title paragraphs are headings."""
    import io

    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises BadZipFile, KeyError, ValueError... on non-DOCX bytes
        raise DocumentError(path, f"not a DOCX file ({exc or type(exc).__name__})") from exc
    blocks: list[_Block] = []

    def paragraph(item: Any) -> None:
        try:
            style = item.style.name if item.style is not None else ""
        except (KeyError, ValueError):  # a style id missing from styles.xml: the paragraph is body text
            style = ""
        style = style or ""
        blocks.append(_Block(None, style.startswith("Heading") or style == "Title", _clean(item.text)))

    def content(container: Any, depth: int = 0) -> None:
        for item in container.iter_inner_content():
            if isinstance(item, Paragraph):
                paragraph(item)
            elif isinstance(item, Table) and depth < 8:  # nested tables, within reason
                # A merged cell is listed once per grid cell it spans: read it once. The elements are kept in
                # the dict so that their ids cannot be reused by new proxies while the table is read.
                seen: dict[int, Any] = {}
                for row in item.rows:
                    for cell in row.cells:
                        if id(cell._tc) not in seen:
                            seen[id(cell._tc)] = cell._tc
                            content(cell, depth + 1)

    try:
        content(document)
    except Exception as exc:  # malformed document XML inside a valid package
        raise DocumentError(path, f"not a DOCX file ({exc or type(exc).__name__})") from exc
    return blocks


# --- HTML -------------------------------------------------------------------------------------------------------

_DROP = ("script, style, noscript, template, nav, header, footer, aside, form, iframe, svg, "
         "[role=navigation], [role=banner], [role=contentinfo]")
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Elements that flow inside a paragraph; every other element is a block and ends the paragraph before it.
_INLINE = frozenset({"a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "data", "del", "dfn", "em", "font", "i", "img",
                     "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time",
                     "u", "var", "wbr", "-text"})


def _html_blocks(data: bytes) -> list[_Block]:
    """The main text: boilerplate removed, <main> or <article> preferred to <body>, headings start sections."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(data.decode("utf-8", errors="replace") if _looks_utf8(data) else data.decode("cp1252", errors="replace"))
    for node in tree.css(_DROP):
        node.decompose()
    # <main>, else a lone <article>; several articles (a listing) are all kept by reading the cleaned <body>.
    articles = tree.css("article")
    root = tree.css_first("main") or (articles[0] if len(articles) == 1 else None) or tree.body or tree.root
    blocks: list[_Block] = []
    if root is None:
        return blocks
    run: list[str] = []

    def flush() -> None:
        text = _clean("".join(run))
        if text:
            blocks.append(_Block(None, False, text))
        run.clear()

    # Walked with an explicit stack, not recursion: deeply nested markup must not overflow Python's stack.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag
        if leaving:
            flush()
            continue
        if tag == "-text":
            run.append(node.text_content or "")
            continue
        if not tag or not tag[0].isalpha() or tag in {"head", "title"}:  # comments, doctype; the <head> when no <body>
            continue
        if tag == "br":
            run.append(" ")
            continue
        if tag in _HEADINGS:
            flush()
            blocks.append(_Block(None, True, _clean(node.text(deep=True))))
            continue
        if tag == "pre":
            flush()
            text = node.text(deep=True).strip("\n")  # preformatted: keep its lines and spacing
            if text.strip():
                blocks.append(_Block(None, False, text))
            continue
        if tag not in _INLINE:
            flush()
            stack.append((node, True))  # flush again when the block ends
        stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
    flush()
    return blocks


def _looks_utf8(data: bytes) -> bool:
    """Whether the bytes decode as UTF-8 (the usual case); otherwise a page is read as Windows-1252."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- text and Markdown ------------------------------------------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text (a byte-order mark allowed), or DocumentError with the offset of the first bad byte."""
    bom = b"\xef\xbb\xbf"
    start = len(bom) if data.startswith(bom) else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(path, f"undecodable text: not UTF-8 (byte offset {start + exc.start})") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text_blocks(text: str, *, markdown: bool) -> list[_Block]:
    """Paragraphs separated by blank lines; in Markdown, `#` headings (outside code fences) are headings."""
    blocks: list[_Block] = []
    paragraph: list[str] = []
    fence = ""

    def flush() -> None:
        if paragraph:
            blocks.append(_Block(None, False, "\n".join(paragraph).strip("\n")))
        paragraph.clear()

    for line in text.split("\n"):
        line = line.rstrip()
        if markdown:
            opened = _MD_FENCE.match(line)
            if fence:
                paragraph.append(line)
                if opened and opened.group(1).startswith(fence):
                    fence = ""  # the closing fence
                continue
            if opened:
                fence = opened.group(1)
                paragraph.append(line)
                continue
            heading = _MD_HEADING.match(line)
            if heading:
                flush()
                blocks.append(_Block(None, True, (heading.group(2) or "").strip()))
                continue
        if not line.strip():
            flush()
        else:
            paragraph.append(line)
    flush()
    return blocks
