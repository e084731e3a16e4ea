"""POST /v1/employers/resolve and /v1/search; /v1/records CRUD (changes are visible to the next search)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from autocode.service.api.auth import require
from autocode.service.api.errors import ERROR_RESPONSES, ApiError
from autocode.service.api.routers.classify import check_texts, request_texts
from autocode.service.api.schemas import (
    EmployerOut,
    HitOut,
    RecordFields,
    RecordList,
    RecordOut,
    ResolveIn,
    ResolveOut,
    SearchIn,
    SearchOut,
)

router = APIRouter(responses=ERROR_RESPONSES)
RecordId = Path(ge=0, le=2**63 - 1, description="A record id (from search, resolve or a list).")


@router.post("/v1/employers/resolve", response_model=ResolveOut, dependencies=[Depends(require("read"))], tags=["employers"])
async def resolve(body: ResolveIn, request: Request) -> ResolveOut:
    """Employer names as people write them → the matched record (or inferred sector and country), with confidence."""
    ctx = request.app.state.ctx
    texts = request_texts(request, body.text, body.texts)
    _employers_on(ctx)
    ctx.engine.require_ready()
    results = await ctx.batcher.submit("employers", lambda batch: ctx.engine.resolver().resolve(batch), texts)
    return ResolveOut(results=[EmployerOut(**{**asdict(r), "evidence": [asdict(e) for e in r.evidence]}) for r in results])


@router.post("/v1/search", response_model=SearchOut, dependencies=[Depends(require("read"))], tags=["employers"])
async def search(body: SearchIn, request: Request) -> SearchOut:
    """Records most like a text (by name, fuzzily or by meaning), optionally within a country or ISIC sector."""
    ctx = request.app.state.ctx
    check_texts(request, [body.text], "text")
    _employers_on(ctx)
    ctx.engine.require_ready()
    country = body.country.upper() if body.country else None
    sector = body.sector.upper() if body.sector else None
    hits = await ctx.run(lambda: ctx.engine.resolver().search(body.text, body.k, country=country, sector=sector))
    return SearchOut(hits=[HitOut(**asdict(h)) for h in hits])


def _employers_on(ctx: Any) -> None:
    if not ctx.settings.employers:
        raise ApiError(404, "not_found", "the employer resolver is turned off on this server (employers = false)")


def _store() -> Any:
    from autocode.service.employer_engine import default_store

    return default_store()


Origin = Literal["user", "correction", "reference"]


def _out(row: dict[str, Any], origin: Origin) -> RecordOut:
    from autocode.classifiers.employers.gazetteer import COLUMNS

    fields: dict[str, Any] = {c: (list(row[c]) if isinstance(row.get(c), (list, tuple)) else row.get(c, "")) for c in COLUMNS}
    fields = {k: ("" if v is None else v) for k, v in fields.items()}
    return RecordOut(**fields, origin=origin, updated_at=row.get("updated_at"))


def _origin(record_id: int) -> Origin:
    from autocode.service.stores.records import USER_ID_BASE

    return "user" if record_id >= USER_ID_BASE else "correction"


@router.get("/v1/records", response_model=RecordList, dependencies=[Depends(require("read"))], tags=["records"])
async def list_records(limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**31)) -> RecordList:
    """Your records and corrections, most recently changed first, and the reference records you removed."""
    store = _store()
    rows = store.list(limit=limit, offset=offset)
    return RecordList(records=[_out(r, _origin(int(r["record_id"]))) for r in rows], total=store.count(),
                      removed=sorted(store.removed_ids()))


@router.get("/v1/records/{record_id}", response_model=RecordOut, dependencies=[Depends(require("read"))], tags=["records"])
async def get_record(request: Request, record_id: int = RecordId) -> RecordOut:
    """One record as search sees it: your row if you added or corrected it, else the reference row."""
    from autocode.service.employer_engine import reference_record

    store = _store()
    row = store.get(record_id)
    if row is not None:
        return _out(row, _origin(record_id))
    if record_id not in store.removed_ids():
        found = reference_record(record_id)
        if found is not None:
            return _out(found, "reference")
    raise ApiError(404, "not_found", f"no record {record_id}", where="record_id")


async def _changed(request: Request) -> None:
    # Applying the change now (in the model thread) keeps the next search fast; it would also happen lazily.
    ctx = request.app.state.ctx
    if ctx.settings.employers and ctx.engine.ready:
        from autocode.service.employer_engine import sync

        await ctx.run(sync, _store())


@router.post("/v1/records", response_model=RecordOut, status_code=201, dependencies=[Depends(require("write"))], tags=["records"])
async def add_record(body: RecordFields, request: Request) -> RecordOut:
    """Add a record of your own (name required); it gets a new id and is searchable at once."""
    if not body.name:
        raise ApiError(422, "invalid_request", "name: required for a new record", where="name")
    store = _store()
    record_id = store.add(body.model_dump(exclude_none=True))
    await _changed(request)
    return _out(store.get(record_id), "user")


@router.put("/v1/records/{record_id}", response_model=RecordOut, dependencies=[Depends(require("write"))], tags=["records"])
async def put_record(body: RecordFields, request: Request, record_id: int = RecordId) -> RecordOut:
    """Correct a record (yours or a reference one): the given fields change, the rest stay."""
    from autocode.service.employer_engine import reference_record

    store = _store()
    if store.get(record_id) is None and reference_record(record_id) is None:
        raise ApiError(404, "not_found", f"no record {record_id} to correct; POST /v1/records adds a new one", where="record_id")
    given = body.model_dump(exclude_none=True)
    store.upsert({**given, "record_id": record_id})
    await _changed(request)
    return _out(store.get(record_id), _origin(record_id))


@router.delete("/v1/records/{record_id}", status_code=204, dependencies=[Depends(require("write"))], tags=["records"])
async def delete_record(request: Request, record_id: int = RecordId) -> Response:
    """Remove your record, or hide a reference record from resolution and search."""
    if not _store().remove(record_id):
        raise ApiError(404, "not_found", f"no record {record_id} to remove", where="record_id")
    await _changed(request)
    return Response(status_code=204)
