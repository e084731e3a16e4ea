"""Shared pieces of the command line: consoles and the error exit."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error naming a long path must stay one searchable line


def fail(message: str) -> NoReturn:
    """Print a one-line error for a person and exit with status 2."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code=2)
