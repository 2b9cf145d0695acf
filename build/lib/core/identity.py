"""Who an account is right now, read from the shared accounts database by any app.

The tools app must refuse a token the main app would refuse (account deleted, disabled,
or the token issued before `tokens_valid_after`), and it must accept the main app's API
keys. Both apps therefore read the same `user` and `apikey` tables; the tools app does it
through this small reader (SQLAlchemy Core, no import of `app`), with a short TTL cache so a
busy tool route costs one indexed lookup per user every `ttl` seconds at most. A revocation
takes effect in the tools app within `ttl` (two seconds by default).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, MetaData, String, Table, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = [
    "API_KEY_PREFIX",
    "Account",
    "IdentityStore",
    "async_url",
    "hash_api_key",
    "token_is_current",
    "users_table",
]

log = logging.getLogger(__name__)

API_KEY_PREFIX = "sk-llmapi-"
_MAX_CACHED = 10_000

_meta = MetaData()
# Only the columns read here; the main app owns these tables (app/db.py) and creates them.
_users = Table(
    "user",
    _meta,
    Column("id", String, primary_key=True),
    Column("username", String),
    Column("role", String),
    Column("disabled", Boolean),
    Column("tokens_valid_after", DateTime),
    Column("hashed_password", String),
)
_api_keys = Table(
    "apikey",
    _meta,
    Column("id", String, primary_key=True),
    Column("user_id", String),
    Column("key_hash", String),
    Column("revoked", Boolean),
)


def users_table() -> Table:
    """The columns of the main app's `user` table that other parts of `core` read."""
    return _users


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    role: str
    disabled: bool
    tokens_valid_after: datetime | None


def async_url(url: str) -> str:
    """The async-driver form of `DATABASE_URL` (the same mapping as `app.db.async_url`)."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def token_is_current(account: Account, issued_at: float) -> bool:
    """Whether a token issued at `issued_at` (epoch seconds) survives the account's revocations."""
    if account.disabled:
        return False
    after = account.tokens_valid_after
    if after is None:
        return True
    if after.tzinfo is None:  # SQLite drops the zone; the main app stores UTC
        after = after.replace(tzinfo=UTC)
    return datetime.fromtimestamp(issued_at, UTC) >= after


def _sqlite_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class IdentityStore:
    """Cached lookups of accounts by id and of API keys by hash.

    `clock` is injectable so tests can step past the TTL without sleeping. A database that
    cannot be read (no tables yet, locked past the busy timeout) answers "no such account":
    failing closed is the point of the check.
    """

    def __init__(self, database_url: str, *, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        url = async_url(database_url)
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_busy_timeout)
        self.ttl = min(ttl, 2.0)
        self.clock = clock
        self._cache: dict[str, tuple[float, Account | None]] = {}

    async def close(self) -> None:
        await self.engine.dispose()

    def forget(self) -> None:
        self._cache.clear()

    async def account(self, user_id: str) -> Account | None:
        return await self._cached("u:" + user_id, lambda: self._load_user(user_id))

    async def account_for_key(self, key: str) -> Account | None:
        """The live account an API key belongs to, or None (unknown, revoked, owner disabled or gone)."""
        digest = hash_api_key(key)
        return await self._cached("k:" + digest, lambda: self._load_key(digest))

    async def _cached(self, key: str, load: Callable[[], Any]) -> Account | None:
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            found: Account | None = await load()
        except SQLAlchemyError as exc:
            log.warning("accounts database not readable (%s): refusing the caller", type(exc).__name__)
            return None
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[key] = (now + self.ttl, found)
        return found

    async def _load_user(self, user_id: str) -> Account | None:
        query = select(_users).where(_users.c.id == user_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _account(row)

    async def _load_key(self, digest: str) -> Account | None:
        query = (
            select(_users)
            .join(_api_keys, _api_keys.c.user_id == _users.c.id)
            .where(_api_keys.c.key_hash == digest, _api_keys.c.revoked == False)  # noqa: E712
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        account = _account(row)
        return None if account is None or account.disabled else account


def _account(row: Any) -> Account | None:
    if row is None:
        return None
    m = row._mapping
    return Account(
        id=str(m["id"]),
        username=str(m["username"]),
        role=str(m["role"] or "user"),
        disabled=bool(m["disabled"]),
        tokens_valid_after=m["tokens_valid_after"],
    )
