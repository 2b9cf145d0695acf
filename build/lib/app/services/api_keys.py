"""API keys: create, list, revoke, and resolve a presented key to its owner.

Only `sha256(key)` is stored, so a leaked database does not leak working keys; the key
has 256 random bits, so a fast unsalted hash is enough (nothing to brute-force). Every
request looks the key up in the database, with no process-local cache, so a revoked key
or a disabled owner is refused at once by every worker of both apps.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import ApiKey, User, utcnow

__all__ = [
    "KEY_PREFIX",
    "MAX_KEYS_PER_USER",
    "TooManyKeys",
    "hash_key",
    "new_key",
    "create_key",
    "list_keys",
    "revoke_key",
    "user_for_key",
]

KEY_PREFIX = "sk-llmapi-"
MAX_KEYS_PER_USER = 100
# last_used_at is a hint, not an audit log: writing it on every request would turn every
# authenticated read into a database write.
_TOUCH_EVERY = timedelta(minutes=1)


class TooManyKeys(Exception):
    """The user already holds MAX_KEYS_PER_USER active keys."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(db: AsyncSession, user_id: str, name: str) -> tuple[ApiKey, str]:
    """The stored row and the key, which the caller shows once and never again."""
    active = select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked == False)  # noqa: E712
    if int((await db.exec(active)).one()) >= MAX_KEYS_PER_USER:
        raise TooManyKeys
    key = new_key()
    row = ApiKey(user_id=user_id, name=name, key_hash=hash_key(key))
    db.add(row)
    await db.commit()
    await db.refresh(row)
    return row, key


async def list_keys(db: AsyncSession, user_id: str) -> list[ApiKey]:
    """The user's active keys, newest first."""
    query = (
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked == False)  # noqa: E712
        .order_by(col(ApiKey.created_at).desc())
    )
    return list((await db.exec(query)).all())


async def revoke_key(db: AsyncSession, user_id: str, key_id: str) -> bool:
    """False when the user has no such active key (another user's key is not found either)."""
    row = await db.get(ApiKey, key_id)
    if row is None or row.user_id != user_id or row.revoked:
        return False
    row.revoked = True
    db.add(row)
    await db.commit()
    return True


async def user_for_key(db: AsyncSession, key: str) -> User | None:
    """The enabled owner of an active key, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    query = select(ApiKey, User).join(User, col(User.id) == col(ApiKey.user_id)).where(ApiKey.key_hash == hash_key(key))
    found = (await db.exec(query)).first()
    if found is None:
        return None
    row, user = found
    if row.revoked or user.disabled:
        return None
    now = utcnow()
    if row.last_used_at is None or now - _aware(row.last_used_at) > _TOUCH_EVERY:
        row.last_used_at = now
        db.add(row)
        await db.commit()
    return user


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
