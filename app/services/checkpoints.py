"""The LangGraph checkpointer at CHECKPOINT_URL: SQLite (WAL) by default, or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

__all__ = ["open_checkpointer"]

_SETUP_LOCK = 0x11A_A92  # advisory lock id of "llm-api checkpointer setup"
PG_POOL_MAX = 32


async def _try_lock(conn: Any) -> bool:
    row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (_SETUP_LOCK,))).fetchone()
    return bool(row and row[0])


@asynccontextmanager
async def _pg_pool(url: str) -> AsyncIterator[Any]:
    """A connection pool, not one shared connection: concurrent runs then read and write
    their checkpoints in parallel instead of queueing on a single connection."""
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(url, min_size=1, max_size=PG_POOL_MAX, kwargs=kwargs, open=False) as pool:
        yield pool


@asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if url.startswith(("postgresql://", "postgres://")):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection

        async with _pg_pool(url) as pool:
            pg_saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            async with await AsyncConnection.connect(url, autocommit=True) as lock:
                # Replicas starting together would run LangGraph's migrations at once and
                # collide on its tables: one at a time, under an advisory lock. Polled, not
                # waited for: a waiting statement would stall the holder's CREATE INDEX
                # CONCURRENTLY, which waits for every open transaction (a deadlock).
                while not await _try_lock(lock):  # noqa: ASYNC110 (the lock is in the database)
                    await asyncio.sleep(0.1)
                try:
                    await pg_saver.setup()
                finally:
                    await lock.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            yield pg_saver
        return
    if not url.startswith("sqlite:///"):
        raise ValueError(f"CHECKPOINT_URL must be sqlite:///... or postgresql://..., got {url!r}")
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from app.sqlite_conn import configure

    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path))
    # WAL (readers don't block the writer, and checkpoints cost several times less), safely
    # switched on while other replicas open the same new file.
    await configure(conn, foreign_keys=False)
    saver: BaseCheckpointSaver[Any] = AsyncSqliteSaver(conn)
    await saver.setup()  # type: ignore[attr-defined]
    try:
        yield saver
    finally:
        await conn.close()
