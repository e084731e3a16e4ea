"""Shared pieces of the command line: consoles and the error exit."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print a one-line error for a person and exit with status 2."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)
