"""The LangGraph checkpointer at CHECKPOINT_URL: SQLite (WAL) by default, or PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

__all__ = ["open_checkpointer"]


@asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if url.startswith(("postgresql://", "postgres://")):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(url) as pg_saver:
            await pg_saver.setup()
            yield pg_saver
        return
    if not url.startswith("sqlite:///"):
        raise ValueError(f"CHECKPOINT_URL must be sqlite:///... or postgresql://..., got {url!r}")
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path))
    # WAL: readers don't block the writer, and checkpoints cost several times less.
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA busy_timeout=5000")
    saver: BaseCheckpointSaver[Any] = AsyncSqliteSaver(conn)
    await saver.setup()  # type: ignore[attr-defined]
    try:
        yield saver
    finally:
        await conn.close()
