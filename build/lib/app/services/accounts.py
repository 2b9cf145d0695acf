"""Account rules and operations, shared by the auth and admin routes and the `llm-api user` CLI.

One place decides what a valid username or password is and what removing a user
cleans up, so the HTTP API and the recovery CLI cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import ChatSession, User, utcnow
from core.quota import user_dirs
from core.security import hash_password
from settings import Settings

if TYPE_CHECKING:
    from app.services.container import Services

__all__ = [
    "ROLES",
    "MIN_PASSWORD",
    "MAX_PASSWORD",
    "Username",
    "Password",
    "check_username",
    "check_password",
    "UsernameTaken",
    "find_user",
    "create_user",
    "update_user",
    "delete_user_data",
    "is_last_admin",
]

log = logging.getLogger(__name__)

ROLES = ("user", "admin")
# Argon2id has no 72-byte limit (bcrypt had); the cap only bounds hashing work per request.
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
# User ids are 32 hex digits; admins name users by id or username, so no name may look like one.
_ID_LIKE_RE = re.compile(r"^[0-9A-Fa-f]{32}$")


def check_username(value: str) -> str:
    if not _USERNAME_RE.match(value):
        raise ValueError("username must be 3 to 64 characters: letters, digits, '_', '.', '@' or '-'")
    if _ID_LIKE_RE.match(value):
        raise ValueError("username must not look like a user id (32 hexadecimal digits)")
    return value


def check_password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    if len(value) > MAX_PASSWORD:
        raise ValueError(f"password must be at most {MAX_PASSWORD} characters")
    if not value.strip():
        raise ValueError("password must not be only spaces")
    return value


Username = Annotated[str, AfterValidator(check_username)]
Password = Annotated[str, AfterValidator(check_password)]


async def find_user(db: AsyncSession, ref: str) -> User | None:
    """A user by id or, failing that, by username (so admins and the CLI can name either)."""
    user = await db.get(User, ref)
    if user is None:
        user = (await db.exec(select(User).where(User.username == ref))).first()
    return user


class UsernameTaken(Exception):
    pass


async def create_user(db: AsyncSession, username: str, password: str, role: str = "user") -> User:
    """Insert a user; raises `UsernameTaken` (the route answers 409). Names differing only
    in case count as taken: "Admin" next to "admin" would invite impersonation."""
    hashed = await asyncio.to_thread(hash_password, password)  # first: no transaction open meanwhile
    if (await db.exec(select(User).where(func.lower(User.username) == username.lower()))).first() is not None:
        raise UsernameTaken(username)
    user = User(username=username, role=role, hashed_password=hashed)
    db.add(user)
    try:
        await db.commit()
    except Exception as exc:  # the unique index caught a concurrent sign-up
        await db.rollback()
        raise UsernameTaken(username) from exc
    await db.refresh(user)
    return user


async def is_last_admin(db: AsyncSession, user: User) -> bool:
    """Whether `user` is the only enabled admin (who must not be demoted, disabled or removed)."""
    if user.role != "admin" or user.disabled:
        return False
    count = (
        await db.exec(
            select(func.count()).select_from(User).where(User.role == "admin", User.disabled == False)  # noqa: E712
        )
    ).one()
    return int(count) <= 1


async def update_user(
    db: AsyncSession,
    user: User,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> User:
    """Apply changes; any change of role, status or password voids the user's older tokens."""
    changed = False
    if role is not None and role != user.role:
        user.role, changed = role, True
    if disabled is not None and disabled != user.disabled:
        user.disabled, changed = disabled, True
    if password is not None:
        user.hashed_password, changed = await asyncio.to_thread(hash_password, password), True
    if changed:
        user.tokens_valid_after = utcnow()
        db.add(user)
        await db.commit()
        await db.refresh(user)
    return user


async def delete_user_data(db: AsyncSession, settings: Settings, user: User, services: Services | None = None) -> int:
    """Delete the user with everything they own: sessions, checkpoints, uploads, and (through
    the tools app when `services` is given, i.e. in the running app) RAG collections and every
    workspace, also those whose session row was already gone. The folders under this
    `DATA_DIR` are removed here as well, which is all the CLI (no tools app) can do.
    Returns the number of sessions removed."""
    from app.services import sessions

    rows = list((await db.exec(select(ChatSession).where(ChatSession.user_id == user.id))).all())
    # End the transaction before the clean-up: it waits on runs and the tools app and opens
    # its own short transactions, which would otherwise queue behind this one's write lock.
    await db.commit()
    if services is not None:
        for row in rows:
            await sessions.purge_session(services, row)
    for row in rows:
        await db.delete(row)
    await db.delete(user)
    await db.commit()
    client = services.tools_client if services is not None else None
    if client is not None:
        result = await client.call(user.id, "/api/tools/accounts/me", method="DELETE")
        if not result.success:
            log.warning("the tools app did not remove the data of user %s: %s", user.id, result.answer)
    for folder in user_dirs(settings.data_dir, user.id):
        await asyncio.to_thread(shutil.rmtree, folder, True)
    return len(rows)
