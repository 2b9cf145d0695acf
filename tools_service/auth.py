"""Who is calling the tools app.

Either a user's JWT (issued by the main app, verified here with the same secret), or
the internal service key `TOOLS_API_KEY` together with `X-User-Id`, the user the main
app vouches for. Identity never comes from a request body.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from core.errors import APIError
from core.security import TokenError, bearer_token, decode_access_token
from settings import Settings
from tools_service.workspace import USER_ID_RE

__all__ = ["Caller", "CurrentCaller", "get_caller", "USER_ID_RE"]


@dataclass(frozen=True)
class Caller:
    user_id: str
    via: str  # "jwt" or "service"
    role: str = "user"


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, code="unauthorized", headers={"WWW-Authenticate": "Bearer"})


async def get_caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    x_user_id: Annotated[str | None, Header()] = None,
) -> Caller:
    settings: Settings = request.app.state.settings
    token = bearer_token(authorization) or ""
    service_key = x_api_key or ""
    if service_key or (token and hmac.compare_digest(token, settings.tools_key)):
        if not hmac.compare_digest(service_key or token, settings.tools_key):
            raise _unauthorized("invalid service key")
        if not x_user_id or not USER_ID_RE.match(x_user_id):
            raise _unauthorized("service calls must name the user in X-User-Id")
        return Caller(user_id=x_user_id, via="service")
    if not token:
        raise _unauthorized("missing bearer token")
    try:
        claims = decode_access_token(token, settings.jwt_secret)
    except TokenError as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc
    sub = str(claims.get("sub", ""))
    if not USER_ID_RE.match(sub):
        raise _unauthorized("invalid token subject")
    return Caller(user_id=sub, via="jwt", role=str(claims.get("role", "user")))


CurrentCaller = Annotated[Caller, Depends(get_caller)]
