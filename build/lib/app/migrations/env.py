"""Alembic environment. The apps pass their own connection (already inside the start-up
transaction that holds the migration lock); the `alembic` command line gets one from
`DATABASE_URL` (settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import app.db  # noqa: F401  (registers every table on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    with create_engine(url).begin() as conn:
        _run(conn)
