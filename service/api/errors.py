"""One error shape for every failure: `{"error": {"code", "message", "where"?, "limit"?}}`, never a stack trace.

A domain error (any `autocode.errors.AutocodeError`) answers with the status of its kind, from `KIND_STATUS`,
and its class's own `code`; its optional `where` and `limit` attributes fill those fields.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from autocode.errors import AutocodeError, ConflictError, InvalidError, LimitError, NotFoundError

__all__ = ["ERROR_RESPONSES", "KIND_STATUS", "ApiError", "ErrorBody", "ErrorDetail", "domain_status", "error_response",
           "install_error_handlers"]

log = logging.getLogger("autocode.api")


class ErrorDetail(BaseModel):
    """What went wrong, in words and as a stable code a client can branch on."""

    code: str
    message: str
    where: str | None = None  # the field, index or parameter at fault
    limit: int | None = None  # the configured limit that was exceeded


class ErrorBody(BaseModel):
    """Every non-2xx response body."""

    error: ErrorDetail


class ApiError(Exception):
    """An error answered as JSON with `status`; raised anywhere inside a route."""

    def __init__(self, status: int, code: str, message: str, *, where: str | None = None, limit: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.where, self.limit = status, code, message, where, limit
        self.headers = headers


def error_response(status: int, code: str, message: str, *, where: str | None = None, limit: int | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response for an error."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, where=where, limit=limit))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                 406: "not_acceptable", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                 422: "invalid_request", 429: "too_many_requests", 503: "not_ready"}

_DESCRIPTIONS = {400: "Bad request", 401: "No or unknown API key", 403: "The key lacks the scope", 404: "Not found",
                 409: "Conflict", 413: "A size limit was exceeded", 422: "Invalid request", 503: "Models still loading"}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in _DESCRIPTIONS.items()
}


KIND_STATUS: dict[type[AutocodeError], int] = {NotFoundError: 404, ConflictError: 409, InvalidError: 422, LimitError: 413}


def domain_status(exc: AutocodeError) -> int | None:
    """The status of a domain error: its first kind in method resolution order; None for one of no kind."""
    # First in the MRO, so a class that is two kinds (JobTooLarge: a limit and a JobError) answers as the one it lists first.
    return next((KIND_STATUS[kind] for kind in type(exc).__mro__ if kind in KIND_STATUS), None)


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or ".".join(map(str, loc))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, where=exc.where, limit=exc.limit, headers=exc.headers)

    @app.exception_handler(AutocodeError)
    async def _domain(request: Request, exc: AutocodeError) -> JSONResponse:
        status = domain_status(exc)
        if status is None:  # raised on purpose but of no kind: a bug in autocode, not in the request
            log.error("domain error of no kind on %s %s: %r", request.method, request.url.path, exc)
            return error_response(500, "internal_error", "internal error; the server log has the details")
        where, limit = getattr(exc, "where", None), getattr(exc, "limit", None)
        return error_response(status, exc.code, str(exc), where=None if where is None else str(where),
                              limit=limit if isinstance(limit, int) else None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = _where(tuple(first.get("loc", ())))
        message = "; ".join(f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', '')}" for e in errors[:5])
        if len(errors) > 5:
            message += f"; and {len(errors) - 5} more"
        return error_response(422, "invalid_request", message, where=where or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # The client gets a stable message; the traceback stays in the server's log.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; the server log has the details")
