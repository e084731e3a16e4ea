"""/review (the page) and /v1/review/... (every action the page takes): a person decides what the model set aside.

The page is one Jinja2 template and a plain script served from `service/review/static`; it loads nothing else.
Reading a queue needs a `read` key, deciding a `write` key, as for the rest of the API.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from autocode.service.api.auth import require
from autocode.service.api.errors import ERROR_RESPONSES
from autocode.service.api.routers.jobs import MEDIA
from autocode.service.api.schemas import (
    CodeEditIn,
    DecisionIn,
    DecisionOut,
    ReviewCodes,
    ReviewItem,
    ReviewItems,
    ReviewNext,
    ReviewSearchOut,
    ReviewSessionList,
    ReviewSessionOut,
    UndoOut,
)
from autocode.service.review import PAGE_DIR
from autocode.service.stores.catalogue import ID_PATTERN

__all__ = ["install", "router"]

router = APIRouter(responses=ERROR_RESPONSES)
SessionId = Path(pattern=r"^[0-9a-f]{16}$", description="A review session id.")
ItemId = Path(ge=0, le=2**31, description="An item id within the session.")
Writer = Annotated[Any, Depends(require("write"))]  # the key that decides (None when auth is off)
Order = Query("rows", pattern="^(rows|uncertain)$", description="rows: most rows first; uncertain: least certain first.")


def install(app: FastAPI) -> None:
    """Add the review routes and the page's static files to `app`."""
    app.include_router(router)
    app.mount("/review/static", StaticFiles(directory=PAGE_DIR / "static"), name="review-static")


def _sessions(request: Request) -> Any:
    from autocode.service.review.sessions import ReviewSessions

    ctx = request.app.state.ctx
    if ctx.review is None:
        ctx.review = ReviewSessions(encoder=ctx.settings.encoder)
    return ctx.review


def _session_out(queue: Any) -> ReviewSessionOut:
    return ReviewSessionOut(session_id=queue.session_id, file=str(queue.file), column=queue.column, target=queue.target,
                            kind=queue.coder.kind, counts=queue.counts(), page_url=f"/review?session={queue.session_id}")


def _reviewer(request: Request, key: Any, given: str | None) -> str:
    if given:
        return given
    return f"key:{key.key_id}" if key is not None else str(_sessions(request).reviewer)


async def _queue(request: Request, session_id: str) -> Any:
    ctx = request.app.state.ctx
    ctx.engine.require_ready()
    return await ctx.run(_sessions(request).get, session_id)


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request) -> HTMLResponse:
    """The review page; it asks for an API key when the server wants one."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(PAGE_DIR / "templates"), autoescape=select_autoescape(["html"]))
    html = env.get_template("review.html").render(auth=not request.app.state.ctx.settings.no_auth,
                                                  version=request.app.version)
    return HTMLResponse(html)


@router.post("/v1/review/sessions", response_model=ReviewSessionOut, status_code=201, tags=["review"])
async def open_session(
    request: Request,
    file: Annotated[bytes, File(description="A coded table written by `autocode code` or `autocode employers`.")],
    column: Annotated[str, Form(min_length=1, max_length=500, description="The coded column (its C_needs_review decides the queue).")],
    filename: Annotated[str, Form(max_length=255, description="The file's name (its suffix gives the format).")] = "coded.csv",
    codebook: Annotated[str | None, Form(pattern=ID_PATTERN, max_length=64, description="Suggestions from this codebook.")] = None,
    model: Annotated[str | None, Form(pattern=ID_PATTERN, max_length=64, description="Suggestions from this trained model.")] = None,
    employers: Annotated[bool, Form(description="The column holds employer names resolved by `autocode employers`.")] = False,
    _: Writer = None,
) -> ReviewSessionOut:
    """Upload a coded file and open its review queue (uploading the same file again resumes the session)."""
    from autocode.service.review.sessions import parse_source
    from autocode.service.stores.catalogue import model_dir

    sessions = _sessions(request)
    ctx = request.app.state.ctx
    ctx.engine.require_ready()
    source = parse_source(codebook, model_dir(model) if model else None, employers)
    path = await ctx.run_io(sessions.save_upload, filename, file)
    queue = await ctx.run(sessions.open, path, column, source)
    return _session_out(queue)


@router.get("/v1/review/sessions", response_model=ReviewSessionList, dependencies=[Depends(require("read"))], tags=["review"])
async def list_sessions(request: Request) -> ReviewSessionList:
    """Every review session this home holds, newest first."""
    return ReviewSessionList(sessions=_sessions(request).listed())


@router.get("/v1/review/sessions/{session_id}", response_model=ReviewSessionOut, dependencies=[Depends(require("read"))],
            tags=["review"])
async def get_session(request: Request, session_id: str = SessionId) -> ReviewSessionOut:
    """One session and its counts."""
    return _session_out(await _queue(request, session_id))


@router.get("/v1/review/sessions/{session_id}/next", response_model=ReviewNext, dependencies=[Depends(require("read"))],
            tags=["review"])
async def next_item(request: Request, session_id: str = SessionId, order: str = Order) -> ReviewNext:
    """The item to decide now, with its suggestions and evidence (null when nothing is left)."""
    queue = await _queue(request, session_id)
    item = await request.app.state.ctx.run(queue.next, order)
    return ReviewNext(item=item.view() if item else None, counts=queue.counts())


@router.get("/v1/review/sessions/{session_id}/items", response_model=ReviewItems, dependencies=[Depends(require("read"))],
            tags=["review"])
async def list_items(request: Request, session_id: str = SessionId, order: str = Order,
                     status: str | None = Query("pending", pattern="^(pending|skipped|decided|uncodable|cleared|all)$"),
                     limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**31)) -> ReviewItems:
    """Items in queue order (suggestions only for those already shown; GET an item for its own)."""
    queue = await _queue(request, session_id)
    items = queue.ordered(order, None if status == "all" else status)
    return ReviewItems(items=[it.view() for it in items[offset: offset + limit]], total=len(items))


@router.get("/v1/review/sessions/{session_id}/items/{item_id}", response_model=ReviewItem,
            dependencies=[Depends(require("read"))], tags=["review"])
async def get_item(request: Request, session_id: str = SessionId, item_id: int = ItemId) -> ReviewItem:
    """One item with its suggestions and evidence."""
    queue = await _queue(request, session_id)
    item = await request.app.state.ctx.run(queue.item, item_id)
    return ReviewItem(**item.view())


@router.post("/v1/review/sessions/{session_id}/items/{item_id}/decision", response_model=DecisionOut, tags=["review"])
async def decide(body: DecisionIn, request: Request, session_id: str = SessionId, item_id: int = ItemId,
                 key: Writer = None, order: str = Order) -> DecisionOut:
    """Decide an item: accept, choose codes (or a record, or a new record), uncodable, or skip. Saved at once."""
    queue = await _queue(request, session_id)
    choice: dict[str, Any] = {"codes": body.codes}
    if body.record_id is not None:
        choice["record_id"] = body.record_id
    if body.record is not None:
        choice["record"] = body.record.model_dump()
    reviewer = _reviewer(request, key, body.reviewer)
    ctx = request.app.state.ctx
    result = await ctx.run(queue.decide, item_id, body.action, reviewer, choice)
    following = await ctx.run(queue.next, order)
    return DecisionOut(**result, next=following.view() if following else None)


@router.post("/v1/review/sessions/{session_id}/undo", response_model=UndoOut, dependencies=[Depends(require("write"))],
             tags=["review"])
async def undo(request: Request, session_id: str = SessionId) -> UndoOut:
    """Undo the latest decision of the session; its item is back in the queue."""
    queue = await _queue(request, session_id)
    return UndoOut(**await request.app.state.ctx.run(queue.undo))


@router.get("/v1/review/sessions/{session_id}/search", response_model=ReviewSearchOut,
            dependencies=[Depends(require("read"))], tags=["review"])
async def search(request: Request, session_id: str = SessionId,
                 q: str = Query("", max_length=500, description="A code or part of a name.")) -> ReviewSearchOut:
    """Codes of the codebook (or employer records) like `q`, to pick one the suggestions missed."""
    queue = await _queue(request, session_id)
    return ReviewSearchOut(options=await request.app.state.ctx.run(queue.search, q, 10))


@router.get("/v1/review/sessions/{session_id}/codes", response_model=ReviewCodes, dependencies=[Depends(require("read"))],
            tags=["review"])
async def list_codes(request: Request, session_id: str = SessionId) -> ReviewCodes:
    """The session's codes, and whether they may be edited here."""
    await _queue(request, session_id)
    return ReviewCodes(**await request.app.state.ctx.run(_sessions(request).codes, session_id))


@router.post("/v1/review/sessions/{session_id}/codes", response_model=ReviewCodes, dependencies=[Depends(require("write"))],
             tags=["review"])
async def edit_codes(body: CodeEditIn, request: Request, session_id: str = SessionId) -> ReviewCodes:
    """Rename, add (split) or merge draft codes; the codebook file is rewritten and the queue re-suggested."""
    await _queue(request, session_id)
    extra = body.model_dump(exclude={"op", "code"}, exclude_none=True)
    result = await request.app.state.ctx.run(lambda: _sessions(request).edit_codes(session_id, body.op, body.code, **extra))
    return ReviewCodes(**result)


@router.get("/v1/review/sessions/{session_id}/export", response_class=FileResponse,
            dependencies=[Depends(require("read"))], tags=["review"],
            responses={200: {"description": "The coded file with the decisions applied, in the upload's format."}})
async def export(request: Request, session_id: str = SessionId) -> FileResponse:
    """The file with every decision applied: same rows, same order; reviewed rows have method `human` and the reviewer."""
    from autocode.service.paths import autocode_home

    queue = await _queue(request, session_id)
    suffix = queue.file.suffix.lower()
    out = autocode_home() / "review" / "exports" / f"{queue.session_id}-{queue.file.stem}.reviewed{suffix}"
    await request.app.state.ctx.run_io(queue.export, out)
    return FileResponse(out, media_type=MEDIA.get(suffix, "application/octet-stream"),
                        filename=f"{FilePath(queue.file.name).stem}.reviewed{suffix}")
