"""API-key auth: `Authorization: Bearer <key>`; reads need `read`, changes `write`, administration `admin`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autocode.service.api.errors import ApiError

__all__ = ["bearer", "require"]

bearer = HTTPBearer(auto_error=False, description="An API key from `autocode keys create --scope read|write|admin`.")


def require(scope: str) -> Callable[..., Awaitable[Any]]:
    """A dependency that admits a request whose key has `scope` (or a wider one); no check when auth is off."""

    async def check(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Any:
        ctx = request.app.state.ctx
        if ctx.settings.no_auth:
            return None
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "unauthorized", "this endpoint needs an API key: Authorization: Bearer <key>", headers=challenge)
        from autocode.service.stores.keys import scope_allows

        key = ctx.keys.verify(credentials.credentials)
        if key is None:
            raise ApiError(401, "unauthorized", "the API key is not valid (unknown, revoked or mistyped)", headers=challenge)
        if not scope_allows(key.scope, scope):
            raise ApiError(403, "forbidden", f"this endpoint needs a key with scope {scope!r}; this key has {key.scope!r}")
        return key

    return check
