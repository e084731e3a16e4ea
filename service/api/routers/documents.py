"""POST /v1/documents: PDF, DOCX, HTML, TXT or Markdown files in, one coded row per document out."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from autocode.service.api.auth import require
from autocode.service.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from autocode.service.api.schemas import DocumentOut, DocumentsOut
from autocode.service.stores.catalogue import ID_PATTERN

router = APIRouter(responses=ERROR_RESPONSES)


@router.post("/v1/documents", response_model=DocumentsOut, dependencies=[Depends(require("read"))], tags=["documents"],
             responses={415: {"model": ErrorBody, "description": "A file of a type other than those listed"}})
async def code_documents_route(
    request: Request,
    files: Annotated[list[UploadFile], File(description="One or more documents: .pdf, .docx, .html, .htm, .txt, .md.")],
    codebook: Annotated[str | None, Form(pattern=ID_PATTERN, max_length=64, description="Code into this codebook (zero-shot).")] = None,
    model: Annotated[str | None, Form(pattern=ID_PATTERN, max_length=64, description="Code with this trained model.")] = None,
) -> DocumentsOut:
    """Code each uploaded document: codes, confidence, review flag, and the page, heading and passage that decided."""
    from autocode.service.builder import Target
    from autocode.service.documents.extract import SUFFIXES
    from autocode.service.documents.runner import code_documents

    ctx = request.app.state.ctx
    s = ctx.settings
    if (codebook is None) == (model is None):
        raise ApiError(422, "invalid_request", "give exactly one of codebook or model", where="codebook")
    if len(files) > s.max_documents:
        raise ApiError(413, "too_large", f"{len(files)} files: at most {s.max_documents} per request", limit=s.max_documents)
    ctx.engine.require_ready()
    target = Target("codebook", codebook) if codebook else Target("model", str(model))
    with tempfile.TemporaryDirectory(prefix="autocode-docs-") as tmp:
        paths = []
        for n, upload in enumerate(files):
            name = Path(upload.filename or f"document-{n}").name
            if Path(name).suffix.lower() not in SUFFIXES:
                raise ApiError(415, "unsupported_media_type", f"{name}: not one of {', '.join(sorted(SUFFIXES))}",
                               where=f"files[{n}]")
            data = await upload.read(s.max_document_bytes + 1)
            if len(data) > s.max_document_bytes:
                raise ApiError(413, "too_large", f"{name}: over the limit of {s.max_document_bytes} bytes per document",
                               where=f"files[{n}]", limit=s.max_document_bytes)
            path = Path(tmp) / f"{n:03d}-{name}"
            path.write_bytes(data)
            paths.append(path)

        def run() -> Any:
            base = ctx.engine.classifier(target).base  # the target's cascade: it pools a document's chunks
            return code_documents(paths, base, workers=0, max_bytes=s.max_document_bytes, max_pages=s.max_document_pages)

        result = await ctx.run(run)
    rows = []
    for row, upload in zip(result.rows, files, strict=True):
        rows.append({**row, "path": Path(upload.filename or "").name})
    too_many = [r for r in rows if "over the limit" in str(r.get("error", "")) and "pages" in str(r.get("error", ""))]
    if too_many and len(too_many) == len(rows):
        raise ApiError(413, "too_large", f"{too_many[0]['path']}: {too_many[0]['error']}", limit=s.max_document_pages)
    return DocumentsOut(documents=[DocumentOut(**r) for r in rows], coded=result.coded, needs_review=result.needs_review,
                        failed=result.failed)
