"""DATABASE_URL and CHECKPOINT_URL on a real PostgreSQL: accounts and sessions survive a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from tests.conftest import make_settings
from tests.pg import postgres_bin, postgres_server
from tests.scripted_llm import ScriptedLLM
from tests.servers import serve_app


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL binaries not installed; `make setup` installs them")
    with postgres_server() as url:
        yield url


def test_postgres_for_users_and_checkpoints(data_dir: Path, llm_server: ScriptedLLM, pg_url: str) -> None:
    settings = make_settings(
        data_dir,
        llm_backend="openai",
        openai_base_url=llm_server.url,
        default_agent="chat",
        database_url=pg_url,
        checkpoint_url=pg_url,
    )
    with serve_app(create_app(settings)) as url:
        token = httpx.post(url + "/api/auth/signup", json={"username": "pguser", "password": "long-enough-pw"})
        assert token.status_code == 201, token.text
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for text in ("first", "second"):
            r = httpx.post(
                url + "/v1/chat/completions",
                headers=h,
                timeout=30,
                json={"model": "chat", "session_id": "pg", "messages": [{"role": "user", "content": text}]},
            )
            assert r.status_code == 200, r.text
    assert not (data_dir / "app.db").exists() and not (data_dir / "checkpoints.db").exists()
    with serve_app(create_app(settings)) as url:  # a restart: state comes back from PostgreSQL
        login = httpx.post(url + "/api/auth/login", json={"username": "pguser", "password": "long-enough-pw"})
        assert login.status_code == 200
        h = {"Authorization": f"Bearer {login.json()['access_token']}"}
        r = httpx.post(
            url + "/v1/chat/completions",
            headers=h,
            timeout=30,
            json={"model": "chat", "session_id": "pg", "messages": [{"role": "user", "content": "third"}]},
        )
        assert r.status_code == 200
    assert llm_server.user_messages(-1) == ["first", "second", "third"]
