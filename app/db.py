"""Database: SQLModel tables and an async engine over `DATABASE_URL`.

SQLite (the default) runs through aiosqlite, PostgreSQL through psycopg's async driver,
so no handler blocks the event loop on the database.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.sqlite_conn import SQLITE_BUSY_TIMEOUT_S, configure
from core.security import hash_password
from settings import Settings

__all__ = [
    *("User", "ChatSession", "AppSetting", "LoginThrottle", "IdempotencyRecord", "ConversationHash"),
    *("ResponseRecord", "TranscriptRow", "TranscriptState", "ApiKey", "RunLease", "RunCancel"),
    *("Database", "async_url", "insert_into", "utcnow"),
]

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UserBase(SQLModel):
    username: str = Field(index=True, unique=True, max_length=64)
    role: str = Field(default="user", max_length=16)
    disabled: bool = False


class User(UserBase, table=True):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True)
    hashed_password: str
    created_at: datetime = Field(default_factory=utcnow)
    # Tokens issued before this instant are void (password change, role change, disable).
    tokens_valid_after: datetime | None = None


class ChatSession(SQLModel, table=True):
    """A user's chat session. Session ids are per user: two users may both have "abc",
    and neither can learn that the other does. The checkpointer's thread id is `thread_id`."""

    thread_id: str = Field(primary_key=True, max_length=200)
    session_id: str = Field(index=True, max_length=128)
    user_id: str = Field(index=True, foreign_key="user.id", ondelete="CASCADE")
    title: str = ""
    agent: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    message_count: int = 0


class AppSetting(SQLModel, table=True):
    """Key/value settings changed at run time and shared by every worker."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class LoginThrottle(SQLModel, table=True):
    """Failed-login counters, keyed `user:<name>` or `ip:<address>`. In the database, not
    in memory, so a guessing run spread over workers still meets one shared limit.
    Times are epoch seconds: comparing them in SQL needs no time-zone handling."""

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_start: float = 0.0
    locked_until: float = 0.0
    lockouts: int = 0


class IdempotencyRecord(SQLModel, table=True):
    """A chat turn made under an `Idempotency-Key`: the key (hashed with its owner, so two
    users' keys never meet), the session it wrote to, and the stored answer. A retry with
    the same key gets the stored answer instead of a second turn. `state` is `running`
    while the first request is under way (a concurrent duplicate gets 409), `done` after."""

    key: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(index=True, foreign_key="user.id", ondelete="CASCADE")
    session_id: str = Field(max_length=128)
    state: str = Field(default="running", max_length=16)
    response: str = ""
    created_at: float = 0.0


class ApiKey(SQLModel, table=True):
    """A long-lived credential (`sk-llmapi-...`) for clients that cannot log in weekly.
    Only the SHA-256 of the key is stored; the tools app reads this table too, so these
    columns are a contract between the apps."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True)
    user_id: str = Field(index=True, foreign_key="user.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    key_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked: bool = False


class TranscriptRow(SQLModel, table=True):
    """A message moved out of a long session's checkpoint (app/services/archive.py): the
    checkpoint keeps a bounded window, so a turn's cost does not grow with the session."""

    thread_id: str = Field(primary_key=True, max_length=200)
    seq: int = Field(primary_key=True)
    message_id: str = Field(default="", max_length=100)
    data: str = ""  # the LangChain message as JSON (messages_to_dict)


class TranscriptState(SQLModel, table=True):
    """Per session: how many visible messages were archived, and a hash chain over their
    (role, text) keys, so a client resending the whole history is matched without reading it."""

    thread_id: str = Field(primary_key=True, max_length=200)
    rows: int = 0
    visible: int = 0
    chain: str = ""


class RunLease(SQLModel, table=True):
    """A run in progress in some process (`owner`), so any replica can tell that a session
    is running and ask for it to stop. Renewed while it runs; a lease left by a process that
    died goes stale after a while and is then ignored."""

    thread_id: str = Field(primary_key=True, max_length=200)
    run_id: str = Field(max_length=32)
    owner: str = Field(index=True, max_length=32)
    renewed_at: float = 0.0


class RunCancel(SQLModel, table=True):
    """A request, made on any replica, to stop run `run_id`; its owner polls for these."""

    thread_id: str = Field(primary_key=True, max_length=200)
    run_id: str = Field(max_length=32)
    requested_at: float = 0.0


class ConversationHash(SQLModel, table=True):
    """The hash of a session's visible conversation after its last stored turn."""

    thread_id: str = Field(primary_key=True, max_length=200)
    user_id: str = Field(index=True, max_length=64)
    session_id: str = Field(max_length=128)
    digest: str = Field(index=True, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)


class ResponseRecord(SQLModel, table=True):
    """A stored response: what `GET /v1/responses/{id}` returns, and how to continue it."""

    id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(index=True, max_length=64)
    session_id: str | None = Field(default=None, max_length=128)
    body: str = ""  # the response object, JSON
    conversation: str = "[]"  # the messages so far (for backend models), JSON
    created_at: datetime = Field(default_factory=utcnow)


def async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = async_url(settings.db_url)
        if url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Sized from settings; every use is a short transaction (no connection is held while
        # an agent runs), and a request that cannot get one in `db_pool_timeout` s fails fast.
        sqlite = url.startswith("sqlite")
        # SQLite has one write lock per file, and every transaction here takes it (BEGIN
        # IMMEDIATE, below). Twenty connections spinning for it in SQLite's unfair busy handler
        # starved an unlucky writer past busy_timeout under load ("database is locked"). So the
        # writer is ONE connection per process; transactions queue for it in arrival order (the
        # pool's asyncio queue) as long as SQLite would wait; processes meet at busy_timeout.
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_pre_ping=not sqlite,
            pool_size=1 if sqlite else settings.db_pool_size,
            max_overflow=0 if sqlite else settings.db_max_overflow,
            pool_timeout=SQLITE_BUSY_TIMEOUT_S if sqlite else settings.db_pool_timeout,
            pool_reset_on_return=None if sqlite else "rollback",  # sessions end their own
        )
        # Reads that never write (the token check on every request) use a second engine: in
        # WAL mode they take no lock, so the hot path does not queue behind writers. On
        # PostgreSQL both are the same engine.
        self.reader: AsyncEngine = self.engine
        if sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)
            self.reader = create_async_engine(
                url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_timeout=settings.db_pool_timeout,
                pool_reset_on_return=None,
            )
            # No BEGIN: each read runs in autocommit mode (a snapshot per statement).
            event.listen(self.reader.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(self.reader, class_=AsyncSession, expire_on_commit=False)

    async def init(self) -> None:
        """Migrate the schema (one replica at a time: app.migrations), then make the admin."""
        from app.migrations import migrate  # imports this module: deferred to avoid the cycle

        await migrate(self.engine)
        await self.ensure_admin()

    async def ensure_admin(self) -> None:
        async with self.session() as db:
            found = (await db.exec(select(User).where(User.role == "admin"))).first()
            if found is not None:
                return
            name = self.settings.default_admin_username
            existing = (await db.exec(select(User).where(User.username == name))).first()
            if existing is not None:
                existing.role = "admin"
                db.add(existing)
            else:
                pw = self.settings.default_admin_password.get_secret_value()
                hashed = await asyncio.to_thread(hash_password, pw)
                db.add(User(username=name, role="admin", hashed_password=hashed))
            try:
                await db.commit()
                log.info("created admin user %r", name)
            except Exception as exc:  # another worker created it first
                await db.rollback()
                log.info("admin user not created here (%s): another worker may have", type(exc).__name__)

    async def ping(self) -> None:
        """One round trip (readiness): raises when the database does not answer. Through the
        reader: a readiness probe must not queue behind the writers."""
        async with self.reader.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    def read_session(self) -> AsyncSession:
        """For reads only (on SQLite each statement is its own snapshot: no BEGIN, no lock)."""
        return self.read_sessionmaker()

    async def close(self) -> None:
        await self.engine.dispose()
        if self.reader is not self.engine:
            await self.reader.dispose()


def insert_into(dialect: str, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` clauses: one statement for an upsert, no read first."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _sqlite_begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
    """Every transaction takes SQLite's write lock up front. A deferred transaction that
    reads and then writes cannot wait for a concurrent writer (its snapshot is stale), so it
    fails at once with "database is locked"; an immediate one waits (busy_timeout) instead.
    Transactions here are a few statements long, so serialising them costs little. Sent on
    the driver's connection: one trip to aiosqlite's thread, not three through a cursor."""
    await_(conn.connection.driver_connection.execute("BEGIN IMMEDIATE"))


def _sqlite_pragmas(dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # the driver must not emit its own BEGIN: see above
    await_(configure(record.driver_connection))
