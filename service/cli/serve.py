"""`autocode serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from autocode.service.cli.common import err, fail


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1: this machine only).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes; each loads the models once.")] = None,
    config: Annotated[Path | None, typer.Option(help="A TOML settings file (see README: Configuration).")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Admit every request without an API key. Local use only.")] = False,
) -> None:
    """Serve the /v1 API: classify, employers, search, records, codebooks, feedback and batch jobs."""
    import uvicorn

    from autocode.service.api.config import ConfigError, load_settings
    from autocode.service.stores.keys import KeyStore

    try:
        settings = load_settings(config, host=host, port=port, workers=workers, no_auth=True if no_auth else None)
    except ConfigError as exc:
        fail(str(exc))
    if settings.no_auth:
        err.print("[bold red]WARNING: auth is OFF[/] — every request is admitted without an API key. "
                  "Use only on a trusted machine.")
    else:
        with KeyStore() as keys:
            if keys.count_active() == 0:
                err.print("[yellow]note:[/] no API keys yet: every request will get 401. "
                          "Create one with [bold]autocode keys create --scope admin[/].")
    # Worker processes build their own app from the environment: pass the resolved settings through it.
    os.environ["AUTOCODE_SERVE_SETTINGS"] = settings.model_dump_json()
    err.print(f"autocode serving on http://{settings.host}:{settings.port} (docs at /docs; ready when /readyz says so)")
    uvicorn.run("autocode.service.api.factory:app_from_environment", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="info", timeout_graceful_shutdown=30)
