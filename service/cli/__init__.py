"""The `autocode` command line: one Typer app, one module per verb group."""

from __future__ import annotations

import typer

from autocode.service.cli.code import code, demo
from autocode.service.cli.codebooks import codebooks_app
from autocode.service.cli.discover import discover
from autocode.service.cli.docs import code_docs, train_docs
from autocode.service.cli.employers import employers, records_app, search
from autocode.service.cli.evaluate import evaluate
from autocode.service.cli.keys import keys_app
from autocode.service.cli.llm import llm_app
from autocode.service.cli.review import review
from autocode.service.cli.serve import serve
from autocode.service.cli.train import train

app = typer.Typer(
    help="autocode: code free-text answers into a codebook, offline, and say how sure it is.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(codebooks_app, name="codebooks")
app.command("code")(code)
app.command("demo")(demo)
app.command("code-docs")(code_docs)
app.command("train-docs")(train_docs)
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("discover")(discover)
app.command("employers")(employers)
app.command("search")(search)
app.command("review")(review)
app.add_typer(records_app, name="records")
app.add_typer(keys_app, name="keys")
app.command("serve")(serve)
app.add_typer(llm_app, name="llm")


def main() -> None:
    """Console-script entry point."""
    app()
