"""POST /v1/classify and /v1/feedback; GET/POST /v1/codebooks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from autocode.classifiers.normalise import has_words
from autocode.classifiers.prediction import Prediction
from autocode.service.api.auth import require
from autocode.service.api.engine import Target
from autocode.service.api.errors import ERROR_RESPONSES, ApiError
from autocode.service.api.schemas import (
    ClassifyIn,
    ClassifyOut,
    CodebookList,
    CodebookOut,
    CodebookSummary,
    EvidenceOut,
    FeedbackIn,
    FeedbackOut,
    PredictionOut,
)

router = APIRouter(responses=ERROR_RESPONSES)


def check_texts(request: Request, texts: list[str], field: str) -> None:
    """413 when there are more texts than allowed or one is too long, naming the limit and the text."""
    settings = request.app.state.ctx.settings
    if len(texts) > settings.max_texts:
        raise ApiError(413, "too_many_texts", f"{len(texts)} texts in one request; the limit is {settings.max_texts}",
                       where=field, limit=settings.max_texts)
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise ApiError(413, "text_too_long", f"text {i} has {len(text)} characters; the limit is {settings.max_text_chars}",
                           where=f"{field}[{i}]" if field == "texts" else field, limit=settings.max_text_chars)


def request_texts(request: Request, text: str | None, texts: list[str] | None) -> list[str]:
    """The texts of a one-or-many request (`text` or `texts`), checked against the limits."""
    field = "text" if text is not None else "texts"
    found = [text] if text is not None else list(texts or [])
    check_texts(request, found, field)
    return found


def prediction_out(text: str, p: Prediction) -> PredictionOut:
    """A Prediction as the API returns it."""
    return PredictionOut(text=text, codes=list(p.codes), labels=list(p.labels), confidence=float(p.confidence), method=p.method,
                         needs_review=bool(p.needs_review), reason=p.reason, evidence=[EvidenceOut(**e.to_dict()) for e in p.evidence],
                         scores=dict(p.scores))


def _target(codebook: str | None, model: str | None) -> Target:
    return Target("codebook", codebook) if codebook is not None else Target("model", model or "")


@router.post("/v1/classify", response_model=ClassifyOut, dependencies=[Depends(require("read"))], tags=["coding"])
async def classify(body: ClassifyIn, request: Request) -> ClassifyOut:
    """Code one text or several into a codebook (zero-shot) or with a trained model; optional label subset."""
    ctx = request.app.state.ctx
    texts = request_texts(request, body.text, body.texts)
    target = _target(body.codebook, body.model)
    ctx.engine.require_ready()
    labels = tuple(dict.fromkeys(body.labels)) if body.labels else None
    if labels:
        book = await ctx.run(ctx.engine.codebook, target)
        unknown = [code for code in labels if code not in book]
        if unknown:
            raise ApiError(422, "unknown_label", f"code(s) {', '.join(map(repr, unknown[:10]))} not in codebook {book.id!r}",
                           where="labels")
    key = target.key + ("|" + ",".join(sorted(labels)) if labels else "")
    predictions = await ctx.batcher.submit(key, lambda batch: ctx.engine.classify(target, batch, labels), texts)
    return ClassifyOut(target=target.key, predictions=[prediction_out(t, p) for t, p in zip(texts, predictions, strict=True)])


@router.post("/v1/feedback", response_model=FeedbackOut, status_code=201, tags=["coding"])
async def feedback(body: FeedbackIn, request: Request, key: Annotated[Any, Depends(require("write"))]) -> FeedbackOut:
    """Store a person's correction; the next prediction for that text (and near-identical ones) uses it."""
    ctx = request.app.state.ctx
    check_texts(request, [body.text], "text")
    target = _target(body.codebook, body.model)
    ctx.engine.require_ready()
    book = await ctx.run(ctx.engine.codebook, target)
    codes = list(dict.fromkeys(body.codes))
    unknown = [c for c in codes if c not in book]
    if unknown:
        raise ApiError(422, "unknown_label", f"code(s) {', '.join(map(repr, unknown[:10]))} not in codebook {book.id!r}",
                       where="codes")
    if len(codes) > 1 and not book.multi_label and target.kind == "codebook":
        raise ApiError(422, "invalid_request", f"codebook {book.id!r} is single-label; give one code", where="codes")
    if not has_words(body.text):
        raise ApiError(422, "invalid_request", "the text has no words to learn from", where="text")
    row = ctx.engine.feedback_store.add(target.key, body.text, codes, prediction=body.prediction, note=body.note,
                                        key_id=getattr(key, "key_id", None))
    return FeedbackOut(feedback_id=int(row["feedback_id"]), target=target.key, text=body.text, codes=codes,
                       created_at=str(row["created_at"]))


@router.get("/v1/codebooks", response_model=CodebookList, dependencies=[Depends(require("read"))], tags=["codebooks"])
async def codebooks(request: Request) -> CodebookList:
    """Every codebook (built-in and uploaded) and every trained model the server can code with."""
    from autocode.service.stores.catalogue import list_codebooks, list_models

    return CodebookList(codebooks=[CodebookSummary(**summary) for summary in list_codebooks()], models=list_models())


@router.get("/v1/codebooks/{codebook_id}", response_model=CodebookOut, dependencies=[Depends(require("read"))], tags=["codebooks"])
async def codebook(codebook_id: str, request: Request) -> CodebookOut:
    """One codebook, whole: labels with descriptions, parents, examples and aliases."""
    from autocode.service.stores.catalogue import find_codebook

    book = find_codebook(codebook_id)
    return CodebookOut.model_validate(book.model_dump(mode="json"), from_attributes=False)


@router.post("/v1/codebooks", response_model=CodebookSummary, status_code=201, dependencies=[Depends(require("admin"))],
             tags=["codebooks"])
async def upload_codebook(request: Request, data: Annotated[dict[str, Any], Body(description="A codebook: id, name, version, labels")],
                          replace: Annotated[bool, Query(description="Replace an uploaded codebook of the same id.")] = False
                          ) -> CodebookSummary:
    """Upload a custom codebook (validated; every problem is listed); admin scope."""
    from autocode.service.stores.catalogue import save_codebook

    settings = request.app.state.ctx.settings
    labels = data.get("labels")
    if isinstance(labels, list) and len(labels) > settings.max_codebook_labels:
        raise ApiError(413, "too_many_labels", f"{len(labels)} labels; the limit is {settings.max_codebook_labels}",
                       where="labels", limit=settings.max_codebook_labels)
    book = save_codebook(data, replace=replace)
    return CodebookSummary(id=book.id, name=book.name, version=book.version, labels=len(book), multi_label=book.multi_label,
                           hierarchical=book.is_hierarchical(), built_in=False)
