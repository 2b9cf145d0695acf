"""Schema migrations: they build exactly the models' schema, several replicas starting at
once on a fresh database all come up, and a database made before migrations is adopted."""

from __future__ import annotations

import asyncio
import threading
from contextlib import ExitStack
from pathlib import Path

import httpx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from app.db import Database, async_url
from app.main import create_app
from app.migrations import BASELINE
from tests.conftest import make_settings
from tests.integration.conftest import platform_settings
from tests.scripted_llm import ScriptedLLM
from tests.servers import serve_app

BOTH_STORES = True  # every test with `store` runs on SQLite and on PostgreSQL


def _sync_url(url: str) -> str:
    return async_url(url).replace("+aiosqlite", "")


def _schema_diff(url: str) -> list[object]:
    engine = create_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            # Only our tables: LangGraph's checkpoint tables may share the database.
            ours = {"include_name": lambda name, kind, _parent: kind != "table" or name in SQLModel.metadata.tables}
            return list(compare_metadata(MigrationContext.configure(conn, opts=ours), SQLModel.metadata))
    finally:
        engine.dispose()


def test_migrations_build_the_models_schema(data_dir: Path, store: dict[str, object]) -> None:
    """Fails when a table or column was added to app/db.py without a migration:
    `make migration m="..."` writes one."""
    settings = make_settings(data_dir, **store)
    db = Database(settings)

    async def init_twice() -> None:
        await db.init()
        await db.init()  # current: nothing to do, nothing fails
        await db.close()

    asyncio.run(init_twice())
    assert _schema_diff(settings.db_url) == []


def test_replicas_starting_at_once_all_come_up(
    data_dir: Path, llm_server: ScriptedLLM, store: dict[str, object]
) -> None:
    settings = platform_settings(data_dir, llm_server, **store)
    apps = [create_app(settings) for _ in range(3)]
    urls: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(apps))
    with ExitStack() as stack:
        lock = threading.Lock()

        def start(app: object) -> None:
            barrier.wait()
            try:
                url = stack.enter_context(serve_app(app))
                with lock:
                    urls.append(url)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(a,)) for a in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == [] and len(urls) == len(apps)
        for url in urls:
            assert httpx.get(url + "/health/ready").status_code == 200
            login = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"})
            assert login.status_code == 200
    assert _schema_diff(settings.db_url) == []


def test_a_database_made_before_migrations_is_adopted(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    engine = create_engine(_sync_url(settings.db_url))
    later = {"runlease", "runcancel", "conversationhash", "responserecord", "transcriptrow", "transcriptstate"}
    baseline = [t for name, t in SQLModel.metadata.tables.items() if name not in later]
    SQLModel.metadata.create_all(engine, tables=baseline)  # what create_all made before migrations
    engine.dispose()

    db = Database(settings)

    async def init() -> None:
        await db.init()
        await db.close()

    asyncio.run(init())
    engine = create_engine(_sync_url(settings.db_url))
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() not in (None, BASELINE)
        assert inspect(conn).has_table("runlease")
    engine.dispose()
    assert _schema_diff(settings.db_url) == []


def test_a_database_made_by_create_all_of_the_current_models_is_taken_as_current(data_dir: Path) -> None:
    """What `tests/accounts.py` and older tools did: every table already there."""
    settings = make_settings(data_dir)
    engine = create_engine(_sync_url(settings.db_url))
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    db = Database(settings)

    async def init() -> None:
        await db.init()
        await db.close()

    asyncio.run(init())
    assert _schema_diff(settings.db_url) == []
