"""Request body size limits, enforced before a body is read into memory (a raw ASGI middleware)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["BodyLimit"]

Scope = dict[str, Any]
Message = dict[str, Any]


class _TooLarge(Exception):
    pass


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
        over = replaced = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started, replaced
            if over and not started:
                # The app caught the cut-off and answered itself (FastAPI turns any error raised while it
                # parses a body model into 400 "error parsing the body"): the answer is the limit's 413.
                started = replaced = True
                await _reject(send, limit, name)
                return
            if replaced:
                return  # the rest of the app's own answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _reject(send, limit, name)


async def _reject(send: Callable[[Message], Any], limit: int, name: str) -> None:
    body = json.dumps({"error": {"code": "body_too_large", "message": f"request body over the {name} limit of {limit} bytes",
                                 "where": "body", "limit": limit}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
