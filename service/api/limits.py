"""Request body size limits, enforced before a body is read into memory (a raw ASGI middleware)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

__all__ = ["BodyLimit", "BodyTooLarge", "install_body_limit"]

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyTooLarge(HTTPException):
    """A streamed body ran past its limit. An HTTPException, because FastAPI answers any other error raised
    while it reads a body with 400 "error parsing the body"; this one it passes on, to the 413 handler."""

    def __init__(self, limit: int, name: str) -> None:
        super().__init__(413, f"request body over the {name} limit of {limit} bytes")
        self.limit = limit


def install_body_limit(app: FastAPI, limit_for: Callable[[Scope], tuple[int, str]]) -> None:
    """Add the BodyLimit middleware and the handler that answers a body stopped mid-stream with the same 413."""

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        body = {"error": {"code": "body_too_large", "message": exc.detail, "where": "body", "limit": exc.limit}}
        return JSONResponse(body, status_code=413, headers={"Connection": "close"})

    app.add_middleware(BodyLimit, limit_for=limit_for)


class BodyLimit:
    """Answer 413 when a request body exceeds its limit; `limit_for(scope)` gives the limit per route."""

    def __init__(self, app: Any, limit_for: Callable[[Scope], tuple[int, str]]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Callable[[], Any], send: Callable[[Message], Any]) -> None:
        """Check Content-Length up front and count streamed bytes as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, name = self.limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reject(send, limit, name)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, name)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _reject(send, limit, name)


async def _reject(send: Callable[[Message], Any], limit: int, name: str) -> None:
    body = json.dumps({"error": {"code": "body_too_large", "message": f"request body over the {name} limit of {limit} bytes",
                                 "where": "body", "limit": limit}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
