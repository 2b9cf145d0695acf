"""Schema migrations (Alembic), applied by every app at start-up, one process at a time.

Several replicas and workers start together; each runs `migrate`, which takes a lock
first, so exactly one applies the migrations and the others then find the schema current:
- PostgreSQL: a transaction-scoped advisory lock (`pg_advisory_xact_lock`), held until the
  migration transaction commits; PostgreSQL's DDL is transactional, so a process killed
  half-way leaves nothing behind.
- SQLite: the migration runs in one `BEGIN IMMEDIATE` transaction (app.db takes SQLite's
  write lock at every BEGIN), which holds other writers, and so other migrators, off.

A database made before migrations existed (tables, no `alembic_version`) is stamped at the
baseline (or, if it has every table, at the newest revision) first. Make a new migration
with `make migration m="what changed"`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

__all__ = ["migrate", "alembic_config", "BASELINE", "LOCK_KEY"]

log = logging.getLogger(__name__)

BASELINE = "0001"
LOCK_KEY = 0x11A_A91  # the advisory lock id of "llm-api migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    before = MigrationContext.configure(conn).get_current_revision()
    cfg = alembic_config(conn)
    if before is None and inspect(conn).has_table("user"):
        # Made by `create_all` (an older release, or a tool): with every table of the models
        # present it is taken as current, otherwise as the baseline, then upgraded.
        missing = set(SQLModel.metadata.tables) - set(inspect(conn).get_table_names())
        at = BASELINE if missing else "head"
        log.info("database predates migrations: stamping it at %s", at)
        command.stamp(cfg, at)
    command.upgrade(cfg, "head")
    after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("database schema upgraded: %s -> %s", before or "empty", after)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (a no-op when it is current)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
