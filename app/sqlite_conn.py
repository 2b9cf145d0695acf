"""How every SQLite connection of ours is set up: the app database's (through SQLAlchemy) and
the checkpointer's (aiosqlite directly).

- `busy_timeout` first, so the statements after it wait for a lock instead of failing;
- WAL (readers never block the writer), switched on with retries: replicas starting together
  on a new file all switch it at once, and one that reads the file while another holds its
  write lock is refused at once ("database is locked": SQLite skips its busy handler where
  waiting could deadlock). That statement then holds nothing, so a later try finds the file
  switched. The waits are asyncio sleeps: no thread and no event loop is blocked;
- `synchronous=NORMAL` (safe in WAL mode), and foreign keys on where asked.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import aiosqlite

__all__ = ["SQLITE_BUSY_TIMEOUT_S", "configure"]

log = logging.getLogger(__name__)

# How long a SQLite writer waits for the write lock (in this process: for the one writer
# connection; across processes: SQLite's busy_timeout) before the request gets a 503.
SQLITE_BUSY_TIMEOUT_S = 30.0


async def configure(conn: aiosqlite.Connection, *, foreign_keys: bool = True) -> None:
    await conn.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    await _wal(conn)
    await conn.execute("PRAGMA synchronous=NORMAL")
    if foreign_keys:
        await conn.execute("PRAGMA foreign_keys=ON")


async def _wal(conn: aiosqlite.Connection) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or loop.time() + delay > deadline:
                raise
            log.debug("database file locked while switching it to WAL: retrying")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)
