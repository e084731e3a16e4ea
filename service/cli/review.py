"""`autocode review`: the review page for one coded file on this machine, or `--export` of its decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from autocode.service.cli.common import err, fail


def review(
    coded: Annotated[Path, typer.Argument(help="A file written by `autocode code` or `autocode employers`.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The coded column (its C_needs_review makes the queue).")],
    codebook: Annotated[str | None, typer.Option(help="Suggestions from this codebook (id or YAML file).")] = None,
    model: Annotated[Path | None, typer.Option(help="Suggestions from this trained model folder.")] = None,
    employers: Annotated[bool, typer.Option("--employers", help="The column holds employer names.")] = False,
    export: Annotated[Path | None, typer.Option(help="Write the file with the decisions applied here, and stop.")] = None,
    reviewer: Annotated[str | None, typer.Option(help="Who decides (default: your login name).")] = None,
    separate: Annotated[bool, typer.Option(
        "--separate", help="A queue of the reviewer's own, that teaches the model nothing: two people code the same "
                           "rows blind, then `autocode evaluate A.csv -p C_code -g C_code --gold-file B.csv` gives kappa.")] = False,
    host: Annotated[str, typer.Option(help="Address to listen on (this machine only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the page.")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the browser.")] = False,
) -> None:
    """Review what the model set aside, in the browser: one decision per distinct answer, saved at once."""
    from autocode.errors import AutocodeError
    from autocode.service.api.config import ConfigError, load_settings
    from autocode.service.review.sessions import ReviewSessions, parse_source

    try:
        # The same settings as `autocode serve` (AUTOCODE_* and AUTOCODE_CONFIG), so an employer reference applies here too.
        settings = load_settings(host=host, port=port, no_auth=True, employers=employers, preload_codebooks=[])
    except ConfigError as exc:
        fail(str(exc))
    if settings.employer_reference:
        from autocode.service.api.engine import read_reference
        from autocode.service.employer_engine import use_reference

        use_reference(read_reference(Path(settings.employer_reference)))
    try:
        source = parse_source(codebook, model, employers)
        sessions = ReviewSessions(reviewer=reviewer)
        if separate:
            source["owner"] = sessions.reviewer
        err.print("opening the review queue…")
        queue = sessions.open(coded, column, source)
    except AutocodeError as exc:
        fail(str(exc))
    counts = queue.counts()
    err.print(f"{counts['items']} distinct answers ({counts['rows']} rows) set aside for review; "
              f"{counts['decided'] + counts['uncodable']} decided, {counts['pending']} to go")
    if export is not None:
        try:
            written = queue.export(export)
        except AutocodeError as exc:
            fail(str(exc))
        err.print(f"wrote {written['path']}: {written['rows']} rows, {written['reviewed_rows']} reviewed, "
                  f"{written['cleared_rows']} coded by learning")
        return
    _serve(settings, sessions, queue.session_id, open_browser)


def _serve(settings: Any, sessions: Any, session_id: str, open_browser: bool) -> None:
    import threading
    import webbrowser

    import uvicorn

    from autocode.service.api.app import create_app

    host, port = settings.host, settings.port
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print("[bold red]WARNING:[/] the review page has no API key check; it is listening beyond this machine.")
    # No keys: the page is for the person at this machine (127.0.0.1 unless --host says otherwise).
    app = create_app(settings)
    app.state.ctx.review = sessions
    url = f"http://{host}:{port}/review?session={session_id}"
    err.print(f"review page: [bold]{url}[/] (Ctrl-C stops; every decision is already saved)")
    if open_browser:
        threading.Timer(1.5, lambda: webbrowser.open(url)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")
