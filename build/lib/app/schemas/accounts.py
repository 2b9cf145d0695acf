"""What the account routes answer with (auth and admin share `UserPublic`)."""

from __future__ import annotations

from pydantic import BaseModel

from app.db import UserBase

__all__ = ["UserPublic", "TokenOut"]


class UserPublic(UserBase):
    """A user as clients see it: never the password hash or token bookkeeping."""

    id: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserPublic
