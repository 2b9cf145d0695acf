"""Sign-up, login and the caller's identity."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlmodel import select

from app.api.deps import CurrentUser, DBDep, ServicesDep
from app.db import User
from app.schemas.accounts import TokenOut, UserPublic
from app.services import accounts, throttle
from app.services.accounts import Password, Username
from core.errors import APIError
from core.security import create_access_token, hash_password, verify_password

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Credentials(BaseModel):
    username: Username
    password: Password


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=accounts.MAX_PASSWORD)


def issue_token(services: Any, user: User) -> TokenOut:
    hours = services.settings.jwt_expiration_hours
    token = create_access_token(user.id, services.settings.jwt_secret, hours=hours, extra={"role": user.role})
    public = UserPublic.model_validate(user, from_attributes=True)
    return TokenOut(access_token=token, expires_in=int(hours * 3600), user=public)


@router.post("/signup", status_code=201)
async def signup(body: Credentials, request: Request, services: ServicesDep, db: DBDep) -> TokenOut:
    """Always creates a plain `user`: a `role` field in the body is ignored by design.
    Rate-limited per client address (`SIGNUP_MAX_PER_IP` per `SIGNUP_WINDOW_SECONDS`)."""
    client_ip = request.client.host if request.client else "unknown"
    await throttle.count_signup(services.db, services.settings, client_ip, services.clock())
    try:
        user = await accounts.create_user(db, body.username, body.password, role="user")
    except accounts.UsernameTaken as exc:
        raise APIError(409, f"username {body.username!r} is taken", code="username_taken") from exc
    return issue_token(services, user)


@router.post("/login")
async def login(body: LoginIn, request: Request, services: ServicesDep) -> TokenOut:
    """Throttled per account and per client address (app/services/throttle.py). Each database
    step is its own short transaction: none is held across the hash check or the failure delay."""
    client_ip = request.client.host if request.client else "unknown"
    attempt = await throttle.begin_attempt(services.db, services.settings, body.username, client_ip, services.clock())
    async with services.db.session() as db:
        user = (await db.exec(select(User).where(User.username == body.username))).first()
    valid = await asyncio.to_thread(_check_password, body.password, user.hashed_password if user is not None else None)
    if user is None or user.disabled or not valid:
        await throttle.record_failure(services.db, services.settings, attempt, services.clock())
        raise APIError(401, "wrong username or password", code="invalid_credentials")
    await throttle.record_success(services.db, attempt)
    return issue_token(services, user)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-" + "x" * 16)


def _check_password(password: str, hashed: str | None) -> bool:
    """Blocking (Argon2): run it in a thread. An unknown name (`hashed` None) costs a hash
    check too, so timing does not tell which names exist."""
    return verify_password(password, hashed if hashed is not None else _dummy_hash())


@router.get("/me")
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)
