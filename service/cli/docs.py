"""`autocode code-docs`: a folder (or files) of PDF, DOCX, HTML, TXT and Markdown coded into a codebook."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from autocode.service.cli.common import console, err, fail


def code_docs(
    inputs: Annotated[list[Path], typer.Argument(help="Files or folders (read recursively) of .pdf, .docx, .html, .txt, .md.")],
    codebook: Annotated[str | None, typer.Option(help="Built-in codebook id or a YAML/JSON codebook path (zero-shot).")] = None,
    model: Annotated[Path | None, typer.Option(help="A trained model folder to code with instead of a codebook.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="One row per document (format from suffix).")] = Path(
        "documents.coded.csv"),
    sections: Annotated[Path | None, typer.Option(help="Also write one row per chunk (page, heading, top scores) here.")] = None,
    include: Annotated[list[str] | None, typer.Option(help="Only paths matching this glob (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Leave out paths matching this glob (repeatable).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Code only documents not decided by an earlier run of this job.")] = False,
    workers: Annotated[int, typer.Option(min=0, help="Processes extracting text (0: in this process); with --engine ray "
                                                     "also the actors coding, each loading the model once.")] = 2,
    max_bytes: Annotated[int, typer.Option(min=1, help="Larger files are reported, not read.")] = 50_000_000,
    max_pages: Annotated[int, typer.Option(min=1, help="PDFs with more pages are reported, not read.")] = 2_000,
    encoder: Annotated[str, typer.Option(help="Encoder for --codebook: minilm (ONNX), minilm-int8, minilm-torch, use-multilingual.")] = "minilm",
    engine: Annotated[str, typer.Option(help="local, or ray: the batches of chunks coded on a Ray actor pool.")] = "local",
    address: Annotated[str | None, typer.Option(help="With --engine ray: a running Ray cluster (default: start one here).")] = None,
) -> None:
    """Code documents: codes, confidence, review flag and the page, heading and passage that decided."""
    import pandas as pd
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from autocode.errors import AutocodeError
    from autocode.service.builder import build_base, source_for
    from autocode.service.documents.extract import find_documents
    from autocode.service.documents.runner import DOC_COLUMNS, DecideBatches, local_decide, run_documents
    from autocode.service.paths import autocode_home
    from autocode.service.tables.formats import table_format, write_table_atomic

    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    if engine == "ray" and workers < 1:
        fail("--engine ray needs --workers 1 or more: the actors that code")
    try:
        table_format(output)
        if sections is not None:
            table_format(sections)
        paths = find_documents(inputs, include or (), exclude or ())
        source = source_for(codebook=codebook, model=model)
    except AutocodeError as exc:
        fail(str(exc))
    if not paths:
        fail(f"no documents (.pdf, .docx, .html, .htm, .txt, .md) in {', '.join(map(str, inputs))}")
    on_ray = None
    if engine == "ray":
        from autocode.service.cli.ray_code import documents_on_ray

        chunker, on_ray = documents_on_ray(source, codebook=codebook, model=model, encoder=encoder, address=address,
                                           workers=workers)
        decide: DecideBatches = on_ray
    else:
        cascade = build_base(source, encoder)
        chunker, decide = cascade.encoder, local_decide(cascade)
    # The job is (what decides, where it writes): a folder that grew since is resumed, its new documents coded.
    job = hashlib.sha256(f"{source.identity(encoder)}\x1f{output.resolve()}".encode()).hexdigest()[:16]
    work = autocode_home() / "work" / f"docs-{job}.jsonl"
    err.print(f"{len(paths)} documents; coding into {source.target.key}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[pages]} pages"),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("documents", total=len(paths), pages=0)
        run = run_documents(paths, chunker, decide, work=work, resume=resume, workers=workers, max_bytes=max_bytes,
                            max_pages=max_pages,
                            progress=lambda done, total, pages: bar.update(task, completed=done, pages=pages))
    frame = pd.DataFrame(run.rows, columns=list(DOC_COLUMNS))
    chunks = pd.DataFrame(run.sections)
    for table, column in ((frame, "page"), (frame, "pages"), (chunks, "page")):
        if column in table:
            table[column] = table[column].astype("Int64")  # a page number, or empty where the format has none
    try:
        write_table_atomic(frame, output)
        if sections is not None:
            write_table_atomic(chunks, sections)
    except (AutocodeError, OSError) as exc:
        fail(f"cannot write {output}: {exc}")
    for line in run.failures[:20]:
        err.print(f"[yellow]not coded[/] {escape(line)}")
    if len(run.failures) > 20:
        err.print(f"[yellow]not coded[/] ... and {len(run.failures) - 20} more")
    console.print(f"documents {run.documents} · coded {run.coded} · sent to review {run.needs_review} · "
                  f"not readable {run.failed}" + (f" · from the earlier run {run.resumed}" if run.resumed else "")
                  + f" · {run.pages} pages · {run.seconds:.1f}s · wrote {output}" + (f" and {sections}" if sections else ""))
    if on_ray is not None:
        console.print(f"engine ray: {on_ray.batches} batches in {on_ray.calls} calls on {min(workers, on_ray.calls)} actor(s)")


def train_docs(
    folder: Annotated[Path, typer.Argument(help="A folder (read recursively) of .pdf, .docx, .html, .txt, .md documents.")],
    labels: Annotated[Path, typer.Option(help="A table with a path column (relative to FOLDER) and a code column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    path_column: Annotated[str, typer.Option(help="The column of document paths in --labels.")] = "path",
    label_column: Annotated[str, typer.Option(help="The column of codes; several joined by '|'.")] = "code",
    codebook: Annotated[str | None, typer.Option(help="Built-in codebook id or YAML/JSON path the codes belong to.")] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="A document may carry several codes.")] = False,
    encoder: Annotated[str, typer.Option(help="Encoder: minilm (ONNX, default), minilm-int8, minilm-torch or use-multilingual.")] = "minilm",
    target_accuracy: Annotated[float, typer.Option(help="Auto-code only where cross-validated accuracy reaches this.")] = 0.95,
    workers: Annotated[int, typer.Option(min=0, help="Processes extracting text (0: in this process).")] = 2,
) -> None:
    """Train a model from labelled documents: one training row per document, its text as extracted."""
    from autocode.classifiers.codebook import CodebookError, load_codebook
    from autocode.errors import AutocodeError
    from autocode.service.cli.train import collect_rows, derived_codebook, fit_and_save, report_problems
    from autocode.service.documents.extract import DocumentError, extract_all
    from autocode.service.tables.formats import read_table, require_column

    try:
        table = read_table(labels)
        require_column(table, path_column, labels)
        require_column(table, label_column, labels)
        book = load_codebook(codebook) if codebook else None
    except (AutocodeError, CodebookError) as exc:
        fail(str(exc))
    multi = multi_label or bool(book and book.multi_label)
    paths = [folder / str(p) for p in table[path_column]]
    texts: list[str] = []
    problems: list[str] = []
    for n, (_, got) in enumerate(extract_all(paths, workers=workers), start=1):
        if isinstance(got, DocumentError):
            problems.append(f"row {n}: {got}")
            texts.append("")
        else:
            # The document's text, as code-docs reads it: the encoder sees its start, up to the model's window.
            texts.append("\n\n".join(f"{s.heading}\n\n{s.text}" if s.heading else s.text for s in got.sections))
    frame = table.assign(__text=texts)
    good, codes, bad = collect_rows(frame, "__text", label_column, book, multi)
    report_problems(problems + [b for b in bad if "empty text" not in b], len(frame))
    if not good:
        fail(f"{labels}: no usable documents (all {len(frame)} rows were skipped)")
    if book is None:
        book = derived_codebook([c for row in codes for c in row], labels, multi)
    console.print(f"{len(good)} documents of {len(frame)} read for training")
    fit_and_save(good, codes, book, multi, encoder, target_accuracy, out)
