"""`autocode code` and `autocode demo`: code one column of a table into a codebook, streaming and resumable."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from autocode.service.cli.common import console, err, fail

if TYPE_CHECKING:
    from autocode.service.batch.runner import BatchSummary
    from autocode.service.llm.options import LLMOptions
    from autocode.service.stores.feedback import FeedbackStore


def code(
    data: Annotated[Path, typer.Argument(help="Input table: .csv, .tsv, .xlsx, .jsonl or .parquet. It is never modified.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The column of free text to code.")],
    codebook: Annotated[str | None, typer.Option(help="Built-in codebook id or a YAML/JSON codebook path (zero-shot).")] = None,
    model: Annotated[Path | None, typer.Option(help="A trained model folder to code with instead of a codebook.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the coded table (format from suffix). Default: DATA's name + .coded.")
    ] = None,
    encoder: Annotated[str, typer.Option(help="Encoder for --codebook: minilm (ONNX), minilm-int8, minilm-torch, use-multilingual.")] = "minilm",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of the same job where it stopped.")] = False,
    show: Annotated[int, typer.Option(help="Print this many coded rows to the terminal.")] = 10,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk: the unit of batching and of resuming.")] = 20_000,
    max_chars: Annotated[int, typer.Option(min=1, help="Longer texts are coded on their start and sent to review.")] = 20_000,
    llm_url: Annotated[str | None, typer.Option(help="An OpenAI-compatible server (llama.cpp, vLLM, Ollama, hosted) to decide review items.")] = None,
    llm_model: Annotated[str, typer.Option(help="The model name the LLM server expects.")] = "default",
    llm_key_env: Annotated[str, typer.Option(help="Environment variable holding the LLM server's API key.")] = "AUTOCODE_LLM_API_KEY",
    llm_budget: Annotated[int | None, typer.Option(min=0, help="Most LLM calls in this run; items past it stay in review.")] = None,
    llm_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for one LLM answer.")] = 30.0,
    llm_concurrency: Annotated[int, typer.Option(min=1, help="LLM calls in flight at once.")] = 4,
    llm_accept: Annotated[float, typer.Option(min=0.0, max=1.0, help="LLM decisions below this combined confidence stay in review.")] = 0.9,
    llm_mode: Annotated[str, typer.Option(help="Constrained output: auto, json_schema, json_object or grammar.")] = "auto",
    llm_likelihood: Annotated[Path | None, typer.Option(help="A GGUF model: score candidates by likelihood (base models) instead of chat.")] = None,
    engine: Annotated[str, typer.Option(help="local, or ray: distinct answers decided on a Ray actor pool (DATA may be a folder).")] = "local",
    address: Annotated[str | None, typer.Option(help="With --engine ray: a running Ray cluster (default: start one here).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="With --engine ray: actors, each loading the model once.")] = 2,
) -> None:
    """Code one column of a table; adds C_code, C_label, C_confidence, C_method, C_needs_review, C_evidence."""
    from autocode.service.llm.options import LLMOptions

    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    if engine == "ray":
        if llm_url or llm_likelihood:
            fail("--engine ray does not run the LLM adjudicator; code with --engine local for --llm-url")
        from autocode.service.cli.ray_code import code_on_ray

        code_on_ray(data, column, codebook=codebook, model=model, output=output or default_output(data), encoder=encoder,
                    resume=resume, chunk_rows=chunk_rows, max_chars=max_chars, address=address, workers=workers)
        if show > 0 and not data.is_dir():
            _print_rows(output or default_output(data), column, show)
        return

    llm = LLMOptions(url=llm_url, model=llm_model, key_env=llm_key_env, budget=llm_budget, timeout=llm_timeout,
                     concurrency=llm_concurrency, accept=llm_accept, mode=llm_mode,
                     likelihood_model=str(llm_likelihood) if llm_likelihood else None)
    code_file(data, column, codebook=codebook, model=model, output=output, encoder=encoder, resume=resume, show=show,
              chunk_rows=chunk_rows, max_chars=max_chars, llm=llm)


def default_output(data: Path) -> Path:
    """`survey.csv` -> `survey.coded.csv`, next to the input."""
    return data.with_name(f"{data.stem}.coded{data.suffix}")


def code_file(
    data: Path,
    column: str,
    *,
    codebook: str | None = None,
    model: Path | None = None,
    output: Path | None = None,
    encoder: str = "minilm",
    resume: bool = False,
    show: int = 10,
    chunk_rows: int = 20_000,
    max_chars: int = 20_000,
    temporary: bool = False,
    llm: LLMOptions | None = None,
) -> None:
    """The body of `autocode code`, callable from other commands (demo) with plain arguments."""
    from autocode.errors import AutocodeError
    from autocode.service.batch.runner import BatchInterrupted, classifier_decider, interrupted_run, make_job_key, run_batch
    from autocode.service.builder import build_classifier, source_for
    from autocode.service.tables.readers import open_reader

    output = output or default_output(data)
    if data.exists() and output.exists() and output.resolve() == data.resolve():
        fail(f"{output}: the output would overwrite the input; choose another --output")
    try:
        open_reader(data, column).close()  # a wrong file or column fails before the model loads
        with _feedback_store() as store:
            built = build_classifier(source_for(codebook, model), encoder=encoder, feedback_store=store, llm=llm)
        job_key = make_job_key(data, column, built.identity)
        done = interrupted_run(job_key)
        if done and not resume:
            err.print(f"[yellow]note:[/] an interrupted run of this job had coded {done:,} rows; starting again. "
                      "Use --resume to continue it instead.")
        summary = run_batch(data, column, classifier_decider(built.classifier), output, job_key=job_key, resume=resume,
                            chunk_rows=chunk_rows, max_chars=max_chars)
    except BatchInterrupted as stop:
        err.print(f"[yellow]interrupted[/] after {stop.rows_done:,} rows; run the same command with --resume to continue.")
        raise typer.Exit(code=130) from None
    except (AutocodeError, ValueError) as exc:
        fail(str(exc))
    if show > 0:
        _print_rows(output, column, show)
    print_summary(summary, wrote=not temporary)
    if built.feedback_id:
        texts = len(built.memory)
        console.print(f"feedback: {texts:,} corrected text{'' if texts == 1 else 's'} applied, "
                      f"stored for {built.source.target.key} up to correction {built.feedback_id}")
    if built.adjudicator is not None:
        s = built.adjudicator.stats
        console.print(f"LLM adjudicator: asked {s.asked:,} · decided {s.decided:,} · none fits {s.none:,} · "
                      f"no usable answer {s.failed:,} · over budget {s.over_budget:,} · calls {s.calls:,} · from cache {s.cached:,}")


@contextlib.contextmanager
def _feedback_store() -> Iterator[FeedbackStore | None]:
    # The server's store, when there is one: coding only reads it, so it is not created for a run.
    from autocode.service.stores.feedback import FeedbackStore, default_feedback_path

    if not default_feedback_path().is_file():
        yield None
        return
    with FeedbackStore() as store:
        yield store


def _print_rows(output: Path, column: str, limit: int) -> None:
    from autocode.service.tables.readers import open_reader

    with open_reader(output, column, chunk_rows=limit) as reader:
        first = next(iter(reader.chunks()), None)
    if first is None:
        return
    table = Table(column, "code", "label", "conf.", "review")
    for row in first.table.to_pylist():
        flag = "[yellow]review[/]" if _true(row[f"{column}_needs_review"]) else "[green]auto[/]"
        conf = row[f"{column}_confidence"]
        table.add_row(
            str(row[column] or "")[:60],
            str(row[f"{column}_code"] or ""),
            str(row[f"{column}_label"] or "")[:50],
            f"{float(conf):.2f}" if conf not in (None, "") else "",
            flag,
        )
    console.print(table)


def _true(value: object) -> bool:
    # Read back from CSV the flag is text.
    return value is True or str(value).lower() == "true"


def print_summary(summary: BatchSummary, *, wrote: bool) -> None:
    """One line: rows, distinct texts, auto-coded and review shares, time, where it was written."""
    rows = summary.rows or 1
    extra = f" · invalid {summary.invalid_rows}" + (f" · skipped lines {summary.skipped_rows}" if summary.skipped_rows else "")
    resumed = f" · resumed at row {summary.resumed_from_row + 1:,}" if summary.resumed_from_row else ""
    console.print(
        f"rows {summary.rows:,} · unique texts {summary.unique_texts:,} · "
        f"auto-coded {summary.auto_coded:,} ({100 * summary.auto_coded / rows:.0f}%) · "
        f"sent to review {summary.needs_review:,} ({100 * summary.needs_review / rows:.0f}%)"
        f"{extra} · {summary.seconds:.1f}s{resumed}" + (f" · wrote {summary.output}" if wrote else "")
    )


def demo() -> None:
    """Code the shipped sample survey (data/samples/survey_sample.csv): support answers and employers."""
    sample = Path(str(files("autocode.data") / "samples" / "survey_sample.csv"))
    with tempfile.TemporaryDirectory(prefix="autocode-demo-") as tmp:
        console.rule("support column → employer-support codebook (multi-label, zero-shot)")
        code_file(sample, "support", codebook="employer-support", output=Path(tmp) / "support.csv", show=50, temporary=True)
        console.rule("employer column → employer resolver (record, sector, country, region; review below 0.95)")
        from autocode.service.cli.employers import employers

        employers(sample, "employer", output=Path(tmp) / "employer.csv", show=50)
