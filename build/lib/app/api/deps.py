"""Dependency aliases for the routers: `ServicesDep`, `DBDep`, `CurrentUser`, `AdminUser`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import User
from app.services import api_keys
from app.services.container import Services
from core.errors import APIError
from core.security import TokenError, bearer_token, decode_access_token

__all__ = ["ServicesDep", "DBDep", "CurrentUser", "AdminUser", "get_services", "get_db", "get_current_user"]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_db(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    async with services.db.session() as db:
        yield db


DBDep = Annotated[AsyncSession, Depends(get_db)]


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


async def get_current_user(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> User:
    """The user named by the bearer token (what the `openai` SDK sends as `api_key`).

    Its own short transaction, not the request's `DBDep`: a chat completion must not keep
    a pooled connection for the whole agent run (the pool would cap concurrent chats)."""
    token = bearer_token(authorization)
    if token is None:
        raise _unauthorized("missing bearer token: log in at /api/auth/login and send the token")
    if token.startswith(api_keys.KEY_PREFIX):
        async with services.db.session() as key_db:  # its own short transaction, like the token path
            key_user = await api_keys.user_for_key(key_db, token)
        if key_user is None:
            raise _unauthorized("invalid API key: unknown or revoked, or its owner is disabled")
        return key_user
    try:
        claims = decode_access_token(token, services.settings.jwt_secret)
    except TokenError as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc
    async with services.db.read_session() as db:
        user = await db.get(User, str(claims["sub"]))
    if user is None or user.disabled:
        raise _unauthorized("invalid token: the account does not exist or is disabled")
    if user.tokens_valid_after is not None:
        issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
        valid_after = user.tokens_valid_after
        if valid_after.tzinfo is None:
            valid_after = valid_after.replace(tzinfo=UTC)
        if issued < valid_after:
            raise _unauthorized("invalid token: it was revoked, log in again")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise APIError(403, "admin only", code="forbidden")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
