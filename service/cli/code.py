"""`autocode code` and `autocode demo`: code one column of a table into a codebook, streaming and resumable."""

from __future__ import annotations

import hashlib
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from autocode.service.cli.common import console, err, fail

if TYPE_CHECKING:
    from autocode.service.llm.options import LLMOptions


def code(
    data: Annotated[Path, typer.Argument(help="Input table: .csv, .tsv, .xlsx, .jsonl or .parquet. It is never modified.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The column of free text to code.")],
    codebook: Annotated[str | None, typer.Option(help="Built-in codebook id or a YAML/JSON codebook path (zero-shot).")] = None,
    model: Annotated[Path | None, typer.Option(help="A trained model folder to code with instead of a codebook.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the coded table (format from suffix). Default: DATA's name + .coded.")
    ] = None,
    encoder: Annotated[str, typer.Option(help="Encoder for --codebook: minilm or use-multilingual.")] = "minilm",
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
) -> None:
    """Code one column of a table; adds C_code, C_label, C_confidence, C_method, C_needs_review, C_evidence."""
    from autocode.service.llm.options import LLMOptions

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
    from autocode.classifiers.codebook import CodebookError

    from autocode.service.batch.runner import BatchError, BatchInterrupted, interrupted_run, make_job_key, run_batch
    from autocode.service.tables.readers import open_reader
    from autocode.service.tables.formats import TableError

    output = output or default_output(data)
    if data.exists() and output.exists() and output.resolve() == data.resolve():
        fail(f"{output}: the output would overwrite the input; choose another --output")
    try:
        open_reader(data, column).close()  # a wrong file or column fails before the model loads
        if (codebook is None) == (model is None):
            fail("give exactly one of --codebook ID|PATH or --model MODEL_DIR")
        decide, identity, adjudicator = _decider(codebook, model, encoder, llm)
        job_key = make_job_key(data, column, identity)
        done = interrupted_run(job_key)
        if done and not resume:
            err.print(f"[yellow]note:[/] an interrupted run of this job had coded {done:,} rows; starting again. "
                      "Use --resume to continue it instead.")
        summary = run_batch(data, column, decide, output, job_key=job_key, resume=resume, chunk_rows=chunk_rows, max_chars=max_chars)
    except BatchInterrupted as stop:
        err.print(f"[yellow]interrupted[/] after {stop.rows_done:,} rows; run the same command with --resume to continue.")
        raise typer.Exit(code=130) from None
    except (TableError, CodebookError, BatchError, ValueError) as exc:
        fail(str(exc))
    if show > 0:
        _print_rows(output, column, show)
    _print_summary(summary, wrote=not temporary)
    if adjudicator is not None:
        s = adjudicator.stats
        console.print(f"LLM adjudicator: asked {s.asked:,} · decided {s.decided:,} · none fits {s.none:,} · "
                      f"no usable answer {s.failed:,} · over budget {s.over_budget:,} · calls {s.calls:,} · from cache {s.cached:,}")


def _decider(codebook: str | None, model: Path | None, encoder: str, llm: LLMOptions | None):  # noqa: ANN202
    """The decide function, a string that identifies it for resuming, and the adjudicator if one is on."""
    decide, identity = _base_decider(codebook, model, encoder)
    if llm is None or not llm.enabled:
        return decide, identity, None
    from autocode.service.batch.runner import classifier_decider
    from autocode.service.llm.options import make_adjudicator

    adjudicator = make_adjudicator(decide.classifier, llm)  # type: ignore[attr-defined]
    return classifier_decider(adjudicator), f"{identity}+llm:{llm.identity}", adjudicator


def _base_decider(codebook: str | None, model: Path | None, encoder: str):  # noqa: ANN202 (a Decide and its identity)
    """The decide function for the chosen codebook or model, and a string that identifies it for resuming."""
    from autocode.service.batch.runner import classifier_decider

    if model is not None:
        from autocode.classifiers.model import ModelFormatError, ModelMismatchError, load_model

        if not model.is_dir():
            fail(f"{model}: no such model folder")
        try:
            cascade = load_model(model)
        except (ModelFormatError, ModelMismatchError) as exc:
            fail(str(exc))
        return classifier_decider(cascade), f"model:{model.resolve()}@{model.stat().st_mtime_ns}"
    from autocode.classifiers.cascade import Cascade
    from autocode.classifiers.codebook import load_codebook
    from autocode.embeddings import get_encoder

    book = load_codebook(codebook)  # type: ignore[arg-type]
    digest = hashlib.sha256(book.model_dump_json().encode()).hexdigest()[:12]
    # No labelled data: the cascade runs exact alias matching, then zero-shot on the labels' own words.
    classifier = Cascade(get_encoder(encoder), book).fit([], [])
    return classifier_decider(classifier), f"codebook:{book.id}@{book.version}#{digest}:{encoder}"


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


def _print_summary(summary, *, wrote: bool) -> None:  # noqa: ANN001 (a BatchSummary; imported lazily)
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
        console.rule("employer column → ISIC Rev.4 divisions (zero-shot on the name's meaning)")
        code_file(sample, "employer", codebook="isic4", output=Path(tmp) / "employer.csv", show=50, temporary=True)
