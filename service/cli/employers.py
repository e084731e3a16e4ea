"""`autocode employers`, `autocode search` and `autocode records`: resolve employers, search and edit records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from autocode.service.cli.common import console, err, fail

if TYPE_CHECKING:
    from autocode.service.batch.runner import BatchSummary

records_app = typer.Typer(help="Add, correct, remove and import employer records (kept in AUTOCODE_HOME).", no_args_is_help=True)

# The columns an EmployerResult becomes (without the `<column>_` prefix); imported lazily, hence a function.
FIELD_TYPES: dict[str, str] = {
    "employer": "string", "match_score": "float64", "isic_section": "string", "isic_division": "string",
    "sector": "string", "gics_sector": "string", "country": "string", "region": "string", "subregion": "string",
    "confidence": "float64", "needs_review": "bool", "evidence": "string",
}


def employer_fields() -> dict[str, Any]:
    """The runner's `fields` mapping for employer results: name -> Arrow type."""
    import pyarrow as pa

    return {name: getattr(pa, "bool_" if kind == "bool" else kind)() for name, kind in FIELD_TYPES.items()}


def employers(
    data: Annotated[Path, typer.Argument(help="Input table: .csv, .tsv, .xlsx, .jsonl or .parquet. It is never modified.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The column of employer names as people typed them.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the table (format from suffix). Default: DATA's name + .employers.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of the same job where it stopped.")] = False,
    show: Annotated[int, typer.Option(help="Print this many resolved rows to the terminal.")] = 10,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk: the unit of batching and of resuming.")] = 20_000,
    engine: Annotated[str, typer.Option(help="local, or ray: distinct names resolved on a Ray actor pool (DATA may be a folder).")] = "local",
    address: Annotated[str | None, typer.Option(help="With --engine ray: a running Ray cluster (default: start one here).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="With --engine ray: actors, each loading the resolver once.")] = 2,
) -> None:
    """Resolve employer names to records: adds C_employer, C_match_score, ISIC, sector, country, region, confidence, review, evidence."""
    from autocode.service.batch.runner import BatchError, BatchInterrupted, interrupted_run, make_job_key, run_batch
    from autocode.service.employer_engine import default_store, engine_identity, get_resolver
    from autocode.service.tables.formats import TableError
    from autocode.service.tables.readers import open_reader

    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    output = output or data.with_name(f"{data.stem}.employers{data.suffix}")
    if engine == "ray":
        from autocode.service.cli.ray_code import employers_on_ray

        employers_on_ray(data, column, output=output, resume=resume, chunk_rows=chunk_rows, address=address, workers=workers)
        if show > 0 and not data.is_dir():
            _print_rows(output, column, show)
        return
    try:
        open_reader(data, column).close()  # a wrong file or column fails before the index loads
        store = default_store()
        resolver = get_resolver(store)
        job_key = make_job_key(data, column, engine_identity(store))
        done = interrupted_run(job_key)
        if done and not resume:
            err.print(f"[yellow]note:[/] an interrupted run of this job had resolved {done:,} rows; starting again. "
                      "Use --resume to continue it instead.")
        summary = run_batch(
            data, column, lambda texts: [r.fields() for r in resolver.resolve(texts)], output,
            job_key=job_key, resume=resume, chunk_rows=chunk_rows, fields=employer_fields(),
        )
    except BatchInterrupted as stop:
        err.print(f"[yellow]interrupted[/] after {stop.rows_done:,} rows; run the same command with --resume to continue.")
        raise typer.Exit(code=130) from None
    except (TableError, BatchError, ValueError) as exc:
        fail(str(exc))
    if show > 0:
        _print_rows(output, column, show)
    print_summary(summary)


def print_summary(summary: BatchSummary) -> None:
    """One line: rows, distinct texts, resolved and review shares, time, where it was written."""
    rows = summary.rows or 1
    resumed = f" · resumed at row {summary.resumed_from_row + 1:,}" if summary.resumed_from_row else ""
    console.print(
        f"rows {summary.rows:,} · unique texts {summary.unique_texts:,} · resolved {summary.auto_coded:,} "
        f"({100 * summary.auto_coded / rows:.0f}%) · sent to review {summary.needs_review:,} "
        f"({100 * summary.needs_review / rows:.0f}%) · invalid {summary.invalid_rows}"
        + (f" · skipped lines {summary.skipped_rows}" if summary.skipped_rows else "")
        + f" · {summary.seconds:.1f}s{resumed} · wrote {summary.output}"
    )


def _print_rows(output: Path, column: str, limit: int) -> None:
    from autocode.service.tables.readers import open_reader

    with open_reader(output, column, chunk_rows=limit) as reader:
        first = next(iter(reader.chunks()), None)
    if first is None:
        return
    table = Table(column, "resolved to", "ISIC", "country", "conf.", "review")
    for row in first.table.to_pylist():
        review = row[f"{column}_needs_review"] is True or str(row[f"{column}_needs_review"]).lower() == "true"
        conf = row[f"{column}_confidence"]
        table.add_row(
            escape(str(row[column] or "")[:40]), escape(str(row[f"{column}_employer"] or "")[:40]),
            str(row[f"{column}_isic_division"] or row[f"{column}_isic_section"] or ""), str(row[f"{column}_country"] or ""),
            f"{float(conf):.2f}" if conf not in (None, "") else "", "[yellow]review[/]" if review else "[green]auto[/]",
        )
    console.print(table)


def search(
    text: Annotated[str, typer.Argument(help="An employer name, as people type it.")],
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="How many records to list.")] = 10,
    country: Annotated[str | None, typer.Option(help="Only records in this country (ISO2, e.g. SG).")] = None,
    sector: Annotated[str | None, typer.Option(help="Only records in this ISIC section (K) or division (64).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """List the records most like TEXT: the gazetteer plus your own records."""
    from autocode.service.employer_engine import get_resolver

    hits = get_resolver().search(text, k, country=country.upper() if country else None, sector=sector.upper() if sector else None)
    if as_json:
        typer.echo(json.dumps([_hit_dict(h) for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("no records found")
        return
    table = Table("#", "name", "score", "cc", "ISIC", "sector")
    table.add_column("id", no_wrap=True, min_width=19)  # whole, so it can be pasted into `records add --id`
    for rank, h in enumerate(hits, start=1):
        name = escape(h.name) + (" [cyan](yours)[/]" if h.source == "user" else "")
        table.add_row(str(rank), name, f"{h.score:.3f}", h.country, h.isic_division or h.isic_section,
                      escape(_short(h.sector, 24)), str(h.record_id))
    console.print(table)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _hit_dict(hit: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(hit)


def _change(action: Any) -> Any:
    """Run a store write, turning a bad record into a one-line error, then let a loaded resolver see it."""
    from autocode.service.employer_engine import apply_change, default_store
    from autocode.service.stores.records import RecordError
    from autocode.service.tables.formats import TableError

    store = default_store()
    try:
        result = action(store)
    except (RecordError, TableError) as exc:
        fail(str(exc))
    apply_change(store)
    return result


@records_app.command("add")
def records_add(
    name: Annotated[str | None, typer.Option(help="The employer's name (required for a new record).")] = None,
    country: Annotated[str | None, typer.Option(help="ISO2 country code, e.g. SG.")] = None,
    isic_division: Annotated[str | None, typer.Option(help="ISIC Rev.4 division, two digits (fills the section).")] = None,
    isic_section: Annotated[str | None, typer.Option(help="ISIC Rev.4 section letter.")] = None,
    alias: Annotated[list[str] | None, typer.Option(
        "--alias", help="Another name people use; repeat for several (on a correction, replaces the aliases).")] = None,
    city: Annotated[str | None, typer.Option(help="City.")] = None,
    domain: Annotated[str | None, typer.Option(help="Web domain, e.g. acme.com.sg.")] = None,
    record_id: Annotated[int | None, typer.Option("--id", help="Correct this record (yours or a gazetteer one) instead of adding.")] = None,
) -> None:
    """Add a record, or with --id correct one: only the options given change."""
    given = {"name": name, "country": country, "isic_division": isic_division, "isic_section": isic_section,
             "aliases": alias or None, "city": city, "domain": domain}
    given = {key: value for key, value in given.items() if value is not None}
    if record_id is None:
        if not name:
            fail("--name is required for a new record (or give --id ID to correct one)")
        rid = _change(lambda store: store.add(given))
        console.print(f"added record {rid}: {escape(name)}")
    else:
        if not given:
            fail("nothing to correct: give at least one of --name, --country, --isic-division, --isic-section, --alias, --city, --domain")
        rid = _change(lambda store: store.upsert({"record_id": record_id, **given}))
        console.print(f"corrected record {rid}")


@records_app.command("remove")
def records_remove(record_id: Annotated[int, typer.Argument(metavar="ID", help="The record to remove (yours or a gazetteer one).")]) -> None:
    """Remove your record, or hide a gazetteer record from lookups and searches."""
    if not _change(lambda store: store.remove(record_id)):
        fail(f"no record {record_id} to remove (see `autocode records list` or `autocode search`)")
    console.print(f"removed record {record_id}")


@records_app.command("import")
def records_import(
    file: Annotated[Path, typer.Argument(help="A table with a `name` column; optional record_id, country, isic_division, aliases, ...")],
) -> None:
    """Add (rows without record_id) or correct (rows with one) records from a table, in one transaction."""
    summary = _change(lambda store: store.import_table(file))
    for line in summary.skipped:
        err.print(escape(line), highlight=False)
    console.print(f"added {len(summary.added)} · corrected {len(summary.updated)} · skipped {len(summary.skipped)} rows")


@records_app.command("list")
def records_list(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many records.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """List your records and corrections, most recently changed first, and how many gazetteer records you removed."""
    from autocode.service.employer_engine import default_store

    store = default_store()
    rows, removed = store.list(limit, offset), sorted(store.removed_ids())
    if as_json:
        typer.echo(json.dumps({"records": rows, "removed": removed}, ensure_ascii=False, indent=2, default=list))
        return
    table = Table("name", "country", "ISIC", "aliases", "source", "updated")
    table.add_column("id", no_wrap=True, min_width=19)
    for r in rows:
        table.add_row(escape(r["name"]), r["country"], r["isic_division"] or r["isic_section"],
                      escape(", ".join(r["aliases"])[:40]), r["source"], r["updated_at"][:10], str(r["record_id"]))
    console.print(table)
    listed = f": {', '.join(map(str, removed[:10]))}" if removed else ""
    console.print(f"{store.count()} records of yours · {len(removed)} gazetteer records removed{listed}")
