"""Sign-up, login and the caller's identity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import select

from app.api.deps import CurrentUser, DBDep, ServicesDep
from app.db import User, UserBase
from app.errors import APIError
from app.security import create_access_token, hash_password, verify_password

router = APIRouter(prefix="/api/auth", tags=["auth"])

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class Credentials(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class UserPublic(UserBase):
    id: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserPublic


def issue_token(services: Any, user: User) -> TokenOut:
    hours = services.settings.jwt_expiration_hours
    token = create_access_token(user.id, services.settings.jwt_secret, hours=hours, extra={"role": user.role})
    return TokenOut(access_token=token, expires_in=int(hours * 3600), user=UserPublic.model_validate(user, from_attributes=True))


@router.post("/signup", status_code=201)
async def signup(body: Credentials, services: ServicesDep, db: DBDep) -> TokenOut:
    """Always creates a plain `user`: a `role` field in the body is ignored by design."""
    if (await db.exec(select(User).where(User.username == body.username))).first() is not None:
        raise APIError(409, f"username {body.username!r} is taken", code="username_taken")
    user = User(username=body.username, role="user", hashed_password=hash_password(body.password))
    db.add(user)
    try:
        await db.commit()
    except Exception as exc:
        await db.rollback()
        raise APIError(409, f"username {body.username!r} is taken", code="username_taken") from exc
    await db.refresh(user)
    return issue_token(services, user)


@router.post("/login")
async def login(body: LoginIn, services: ServicesDep, db: DBDep) -> TokenOut:
    user = (await db.exec(select(User).where(User.username == body.username))).first()
    if user is None or user.disabled or not verify_password(body.password, user.hashed_password):
        raise APIError(401, "wrong username or password", code="invalid_credentials")
    return issue_token(services, user)


@router.get("/me")
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)
