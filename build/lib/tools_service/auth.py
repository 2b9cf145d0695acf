"""Who is calling the tools app.

Three doors, and identity never comes from a request body:
- a user's JWT (issued by the main app, verified here with the same secret), accepted only
  while the account exists, is enabled and the token was issued after the account's
  `tokens_valid_after`: the same rules as the main app, read from the shared accounts
  database through `core.identity` (cached at most two seconds);
- a user's API key (`sk-llmapi-...`, in `X-API-Key` or as the bearer token), looked up by
  its SHA-256 in the same database; revoked keys and keys of disabled or deleted users fail;
- the internal service key `TOOLS_API_KEY` with `X-User-Id`, the user the main app vouches
  for (it has checked the user's token itself).
Header values that are not ASCII fail as 401, never as a 500.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request

from core.errors import APIError
from core.identity import API_KEY_PREFIX, Account, IdentityStore, token_is_current
from core.security import TokenError, bearer_token, decode_access_token
from settings import Settings
from tools_service.workspace import USER_ID_RE

__all__ = ["Caller", "CurrentCaller", "get_caller", "identity_store", "USER_ID_RE"]


@dataclass(frozen=True)
class Caller:
    user_id: str
    via: str  # "jwt", "api_key" or "service"
    role: str = "user"


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, code="unauthorized", headers={"WWW-Authenticate": "Bearer"})


def identity_store(app: FastAPI) -> IdentityStore:
    """The app's account reader, made on first use (the lifespan closes it)."""
    store: IdentityStore | None = getattr(app.state, "identity", None)
    if store is None:
        settings: Settings = app.state.settings
        store = IdentityStore(settings.db_url, ttl=settings.identity_cache_seconds)
        app.state.identity = store
    return store


def _same(given: str, expected: str) -> bool:
    # compare_digest raises TypeError on non-ASCII str: compare bytes instead.
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def _live(account: Account | None) -> Account:
    if account is None or account.disabled:
        raise _unauthorized("invalid credentials: the account does not exist or is disabled")
    return account


async def get_caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    x_user_id: Annotated[str | None, Header()] = None,
) -> Caller:
    settings: Settings = request.app.state.settings
    token = bearer_token(authorization) or ""
    presented = x_api_key or token
    if not presented:
        raise _unauthorized("missing bearer token")
    if not presented.isascii():
        raise _unauthorized("invalid credentials")
    store = identity_store(request.app)
    if presented.startswith(API_KEY_PREFIX):
        account = _live(await store.account_for_key(presented))
        return Caller(user_id=account.id, via="api_key", role=account.role)
    if x_api_key or _same(token, settings.tools_key):
        if not _same(presented, settings.tools_key):
            raise _unauthorized("invalid service key")
        if not x_user_id or not USER_ID_RE.match(x_user_id):
            raise _unauthorized("service calls must name the user in X-User-Id")
        return Caller(user_id=x_user_id, via="service")
    try:
        claims = decode_access_token(token, settings.jwt_secret)
    except TokenError as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc
    sub = str(claims.get("sub", ""))
    if not USER_ID_RE.match(sub):
        raise _unauthorized("invalid token subject")
    account = _live(await store.account(sub))
    if not token_is_current(account, float(claims["iat"])):
        raise _unauthorized("invalid token: it was revoked, log in again")
    return Caller(user_id=account.id, via="jwt", role=account.role)


CurrentCaller = Annotated[Caller, Depends(get_caller)]
