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
            async with app.state.services.db.engine.connect() as held:
                await held.exec_driver_sql("SELECT 1")
                busy = await client.get("/api/chat/sessions", headers=headers)
            assert busy.status_code == 503
            assert busy.json()["error"]["code"] == "server_busy" and busy.headers["Retry-After"] == "1"
            assert (await client.get("/api/chat/sessions", headers=headers)).status_code == 200
