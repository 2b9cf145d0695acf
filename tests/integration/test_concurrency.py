"""Many sessions at once: no request holds a database connection while its agent runs.

With a database pool of ONE connection, a dozen turns (streaming and not) must all reach
the model at the same time: the scripted backend holds every request until all of them
are in flight. If any request kept the connection across the model call, the others could
not get one, the backend's gate would never open, and the turns would fail with 503.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.integration.conftest import serve_platform
from tests.scripted_llm import ScriptedLLM

BOTH_STORES = True  # every test with `store` runs on SQLite and on PostgreSQL

N = 12


async def _turn(client: httpx.AsyncClient, url: str, headers: dict[str, str], i: int) -> tuple[int, str]:
    body = {"model": "chat", "session_id": f"s{i}", "messages": [{"role": "user", "content": f"hello {i}"}]}
    if i % 2:
        body["stream"] = True
        text = ""
        async with client.stream("POST", url, json=body, headers=headers) as resp:
            async for line in resp.aiter_lines():
                if line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    assert "error" not in chunk, chunk
                    for choice in chunk.get("choices", []):
                        text += choice["delta"].get("content") or ""
            return resp.status_code, text
    resp = await client.post(url, json=body, headers=headers)
    return resp.status_code, resp.json()["choices"][0]["message"]["content"] if resp.status_code == 200 else resp.text


def test_a_pool_of_one_connection_serves_a_dozen_concurrent_turns(
    data_dir: Path, llm_server: ScriptedLLM, store: dict[str, object]
) -> None:
    llm_server.hold_until(N)
    with serve_platform(data_dir, llm_server, db_pool_size=1, db_max_overflow=0, db_pool_timeout=10.0, **store) as p:

        async def run() -> list[tuple[int, str]]:
            async with httpx.AsyncClient(timeout=120) as client:
                url = p.v1 + "/chat/completions"
                return await asyncio.gather(*(_turn(client, url, p.headers(), i) for i in range(N)))

        results = asyncio.run(run())
        assert [status for status, _ in results] == [200] * N, results
        assert [text for _, text in results] == [f"echo: hello {i}" for i in range(N)]
        # Every session is stored once, whole.
        listed = httpx.get(p.url + "/api/chat/sessions", headers=p.headers(), params={"limit": 50}).json()
        assert sorted(s["id"] for s in listed["data"]) == sorted(f"s{i}" for i in range(N))
        assert {s["message_count"] for s in listed["data"]} == {2}


async def test_an_exhausted_pool_is_a_fast_503_with_retry_after(data_dir: Path) -> None:
    """Hold the only pooled connection: the next request that needs the database gets a 503
    with Retry-After once DB_POOL_TIMEOUT passes, not a 500 (nor a 30 s hang)."""
    from app.main import create_app
    from tests.conftest import make_settings
    from tests.fakes import ScriptedChatModel

    settings = make_settings(data_dir, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2, default_agent="chat")
    app = create_app(settings, llm=ScriptedChatModel(responses=[]), tools=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            login = await client.post("/api/auth/login", json={"username": "admin", "password": "administrator"})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            # The reader pool (the token check on every request); SQLite's writer is one
            # connection that waits like SQLite's own lock does (tested below).
            async with app.state.services.db.reader.connect() as held:
                await held.exec_driver_sql("SELECT 1")
                busy = await client.get("/api/chat/sessions", headers=headers)
            assert busy.status_code == 503
            assert busy.json()["error"]["code"] == "server_busy" and busy.headers["Retry-After"] == "1"
            assert (await client.get("/api/chat/sessions", headers=headers)).status_code == 200


async def test_a_new_sqlite_file_locked_by_another_replica_is_waited_for(data_dir: Path) -> None:
    """Replicas starting together on a new SQLite file all switch it to WAL at once. One that
    reads the file while another holds its write lock is refused at once ("database is
    locked"; SQLite skips its busy handler where waiting could deadlock): it failed its start
    in CI. It retries instead, and comes up once the other lets go."""
    import logging
    import sqlite3

    from sqlalchemy import text

    from app.db import Database
    from tests.conftest import make_settings

    settings = make_settings(data_dir)
    db = Database(settings)  # makes the data folder; connects only when used
    other = sqlite3.connect(
        settings.db_url.split("///", 1)[1], isolation_level=None
    )  # the other replica, still on a rollback journal
    other.execute("CREATE TABLE early (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")  # its write lock, held
    refused = asyncio.Event()
    loop = asyncio.get_running_loop()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retrying" in record.getMessage():
                loop.call_soon_threadsafe(refused.set)

    watch = Watch(logging.DEBUG)
    db_log = logging.getLogger("app.sqlite_conn")
    level = db_log.level
    db_log.addHandler(watch)
    db_log.setLevel(logging.DEBUG)

    async def connect() -> str:
        async with db.engine.connect() as conn:
            return str((await conn.execute(text("PRAGMA journal_mode"))).scalar())

    try:
        task = asyncio.create_task(connect())
        await asyncio.wait([task, asyncio.create_task(refused.wait())], return_when=asyncio.FIRST_COMPLETED)
        assert refused.is_set(), f"not refused while the other held the lock: {task}"
        assert not task.done()
        other.execute("ROLLBACK")
        assert await task == "wal"
    finally:
        other.close()
        db_log.removeHandler(watch)
        db_log.setLevel(level)
        await db.close()


async def test_sqlite_writers_queue_in_arrival_order(data_dir: Path) -> None:
    """SQLite has one write lock per file. Writers that each hold a connection and contend for
    it in SQLite's busy handler are served in no particular order, and under load an unlucky one
    starved past busy_timeout: its turn failed with 503 "database is locked". Writers queue
    instead for the process's one writer connection, and get it in the order they asked."""
    from sqlmodel import select

    from app.db import AppSetting, Database
    from tests.conftest import make_settings

    db = Database(make_settings(data_dir))
    await db.init()
    granted: list[int] = []

    async def write(i: int) -> None:
        async with db.session() as s:
            await s.exec(select(AppSetting).where(AppSetting.key == f"k{i}"))  # holds the writer from here
            granted.append(i)
            s.add(AppSetting(key=f"k{i}", value=str(i)))
            await s.commit()

    try:
        async with db.engine.connect() as held:  # a writer in the middle of its transaction
            await held.exec_driver_sql("SELECT 1")
            tasks = []
            for i in range(16):
                tasks.append(asyncio.create_task(write(i)))
                for _ in range(10):  # let it reach the queue before the next one arrives
                    await asyncio.sleep(0)
            assert granted == []  # all of them wait while the writer is busy
        await asyncio.gather(*tasks)
        assert granted == list(range(16))
        async with db.read_session() as s:
            stored = {r.key: r.value for r in (await s.exec(select(AppSetting))).all()}
        assert all(stored[f"k{i}"] == str(i) for i in range(16))
    finally:
        await db.close()
