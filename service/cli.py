"""The `autocode` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="autocode: code free-text answers into a codebook, offline.", no_args_is_help=True)


def main() -> None:
    """Console-script entry point."""
    app()
