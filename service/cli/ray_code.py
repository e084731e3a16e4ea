"""`--engine ray` for `autocode code`, `autocode employers` and `autocode code-docs`: the distinct answers (or the
documents' batches) decided on Ray, every row written by the local runner."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from autocode.service.cli.common import console, err, fail

if TYPE_CHECKING:
    from autocode.embeddings import Encoder
    from autocode.service.batch.ray_engine import DeciderSpec, RayDecisions, RayDocuments
    from autocode.service.batch.runner import BatchSummary
    from autocode.service.builder import Source

SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl")


def input_files(data: Path) -> list[Path]:
    """DATA itself, or a folder's tables of one format (recursively, in name order)."""
    if not data.is_dir():
        return [data]
    found = sorted(p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not found:
        fail(f"{data}: no .csv, .tsv, .parquet or .jsonl files in the folder")
    return found


def on_ray(data: Path, column: str, output: Path, job: Callable[[], tuple[DeciderSpec, str]], *,
           fields: Mapping[str, Any] | None = None, resume: bool, chunk_rows: int, max_chars: int = 20_000,
           address: str | None, workers: int) -> tuple[BatchSummary, int]:
    """Decide DATA's distinct answers on Ray with `job()`'s (spec, identity), then write with the local runner.

    Returns the run's summary and how many distinct answers Ray decided; a folder becomes one table.
    """
    from autocode.errors import AutocodeError
    from autocode.service.batch.ray_engine import ray_decide
    from autocode.service.batch.runner import PREDICTION_FIELDS, BatchInterrupted, make_job_key, run_batch
    from autocode.service.tables.readers import open_reader

    files = input_files(data)
    fields = fields or PREDICTION_FIELDS
    try:
        for path in files:
            open_reader(path, column).close()  # a wrong file or column fails before Ray starts
        spec, identity = job()
        err.print(f"Ray: deciding the distinct answers of {len(files)} file(s) on {workers} actor(s)…")
        decisions = ray_decide([str(p) for p in files], column, spec, address=address, workers=workers,
                               chunk_rows=chunk_rows, max_chars=max_chars)
        err.print(f"Ray: {decisions.distinct:,} distinct answers decided; writing every row")
        if len(files) == 1:
            summary = run_batch(files[0], column, decisions.for_file(0), output, resume=resume, chunk_rows=chunk_rows,
                                max_chars=max_chars, fields=fields, job_key=make_job_key(files[0], column, identity))
        else:
            summary = _folder(files, column, decisions, output, identity, fields, resume, chunk_rows, max_chars)
    except BatchInterrupted as stop:
        err.print(f"[yellow]interrupted[/] after {stop.rows_done:,} rows; run the same command with --resume to continue.")
        raise typer.Exit(code=130) from None
    except (AutocodeError, ValueError) as exc:
        fail(str(exc))
    return summary, decisions.distinct


def code_on_ray(data: Path, column: str, *, codebook: str | None, model: Path | None, output: Path, encoder: str,
                resume: bool, chunk_rows: int, max_chars: int, address: str | None, workers: int) -> None:
    """`autocode code --engine ray`: the same output as `--engine local`."""
    from autocode.service.batch.ray_engine import DeciderSpec
    from autocode.service.builder import coding_identity, newest_feedback, source_for
    from autocode.service.cli.code import _feedback_store, print_summary
    from autocode.service.paths import autocode_home

    def job() -> tuple[DeciderSpec, str]:
        source = source_for(codebook, model)
        with _feedback_store() as store:
            identity = coding_identity(source, encoder, newest_feedback(store, source))
        return DeciderSpec(codebook=codebook, model=str(Path(model).resolve()) if model else None, encoder=encoder,
                           home=str(autocode_home())), identity

    summary, distinct = on_ray(data, column, output, job, resume=resume, chunk_rows=chunk_rows, max_chars=max_chars,
                               address=address, workers=workers)
    print_summary(summary, wrote=True)
    console.print(f"engine ray: {distinct:,} distinct answers on {workers} actor(s)")


def employers_on_ray(data: Path, column: str, *, output: Path, resume: bool, chunk_rows: int, address: str | None,
                     workers: int) -> None:
    """`autocode employers --engine ray`: each actor builds the employer resolver once; the local engine's output."""
    from autocode.service import employer_engine
    from autocode.service.batch.ray_engine import DeciderSpec
    from autocode.service.cli.employers import employer_fields, print_summary
    from autocode.service.paths import autocode_home

    def job() -> tuple[DeciderSpec, str]:
        # The actors open the same AUTOCODE_HOME, so they see the records (and the cached name index) the driver does,
        # and resolve against the driver's reference.
        return (DeciderSpec(employers=True, home=str(autocode_home()), reference=employer_engine.reference_records),
                employer_engine.engine_identity(employer_engine.default_store()))

    summary, distinct = on_ray(data, column, output, job, fields=employer_fields(), resume=resume, chunk_rows=chunk_rows,
                               address=address, workers=workers)
    print_summary(summary)
    console.print(f"engine ray: {distinct:,} distinct answers on {workers} actor(s)")


def documents_on_ray(source: Source, *, codebook: str | None, model: Path | None, encoder: str, address: str | None,
                     workers: int) -> tuple[Encoder, RayDocuments]:
    """`autocode code-docs --engine ray`: the encoder that chunks here, and the runner's `decide` on the actor pool."""
    from autocode.classifiers.model import read_manifest
    from autocode.embeddings import get_encoder
    from autocode.service.batch.ray_engine import DeciderSpec, RayDocuments, start_ray
    from autocode.service.paths import autocode_home

    # The driver only counts tokens to chunk; a model chunks by the encoder it was trained with, as load_model picks.
    manifest = read_manifest(source.folder) if source.folder else None
    chunker = get_encoder(str(manifest["encoder"]["key"]) if manifest else encoder)
    # A multi-label model scores each document's clauses too (Cascade's clauses setting, on by default).
    settings = manifest["settings"] if manifest else {}
    clauses = bool(settings.get("multi_label")) and bool(settings.get("clauses", True))
    start_ray(address, workers)
    err.print(f"Ray: coding the documents' batches on {workers} actor(s) once all are read")
    spec = DeciderSpec(codebook=codebook, model=str(Path(model).resolve()) if model else None, encoder=encoder,
                       documents=True, home=str(autocode_home()))
    return chunker, RayDocuments(spec, workers, clauses=clauses)


def _named(name: str) -> Callable[[str], None]:
    """A report that prefixes each bad-row line with its file's name."""
    return lambda line: err.print(f"{name}: {line}", markup=False, highlight=False)


def _folder(files: list[Path], column: str, decisions: RayDecisions, output: Path, identity: str,
            fields: Mapping[str, Any], resume: bool, chunk_rows: int, max_chars: int) -> BatchSummary:
    """Each file through the runner into a part (bad rows named by file and row), then one table in file order."""
    from autocode.service.batch.runner import make_job_key, run_batch
    from autocode.service.tables.writers import write_parts

    total: BatchSummary | None = None
    with tempfile.TemporaryDirectory(prefix="autocode-ray-") as tmp:
        parts = []
        for n, path in enumerate(files):
            part = Path(tmp) / f"part-{n:05d}.parquet"
            got = run_batch(path, column, decisions.for_file(n), part, resume=resume, chunk_rows=chunk_rows, max_chars=max_chars,
                            fields=fields, job_key=make_job_key(path, column, identity), progress=False,
                            report=_named(path.name))
            parts.append(part)
            if total is None:
                total = got
            else:
                for name in ("rows", "unique_texts", "auto_coded", "needs_review", "invalid_rows", "skipped_rows"):
                    setattr(total, name, getattr(total, name) + getattr(got, name))
                total.seconds += got.seconds
                total.issues += [f"{path.name}: {line}" for line in got.issues]
        write_parts(parts, output, last=[])
    assert total is not None, "input_files returns at least one file"
    total.output = output
    return total
