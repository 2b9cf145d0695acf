"""The tools app applies the main app's account rules to every token (issue 11, item 1).

The attack: a user keeps her token after an admin disables and then deletes her. The main
app refuses it; the tools app must too, for code runs, RAG queries and new collections.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import httpx

from core.identity import IdentityStore
from core.security import create_access_token
from tests.accounts import ensure_account
from tests.conftest import make_settings
from tests.integration.conftest import serve_platform
from tests.scripted_llm import ScriptedLLM
from tests.tools_service.conftest import requires_bwrap

CODE = "/api/tools/python_coder"
COLLECTIONS = "/api/tools/rag/collections"
QUERY = "/api/tools/rag/query"


def _tools(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _refused_everywhere(tools: httpx.Client) -> None:
    run = tools.post(CODE, json={"code": "print(1)", "session_id": "s1"})
    query = tools.post(QUERY, json={"collection": "notes", "query": "anything"})
    create = tools.post(COLLECTIONS, json={"name": "fresh"})
    for resp in (run, query, create):
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["type"] == "authentication_error"


@requires_bwrap
def test_disabled_then_deleted_user_is_refused_by_the_tools_app(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, with_tools=True, identity_cache_seconds=0) as p:
        token = p.signup("mallory")
        user_id = httpx.get(p.url + "/api/auth/me", headers=p.headers(token)).json()["id"]
        with _tools(p.settings.tools_url, token) as tools:
            assert tools.post(COLLECTIONS, json={"name": "notes"}).status_code == 201
            ran = tools.post(CODE, json={"code": "print(1)", "session_id": "s1"})
            assert ran.status_code == 200 and ran.json()["data"]["stdout"] == "1\n"

            resp = httpx.patch(f"{p.url}/api/admin/users/{user_id}", json={"disabled": True}, headers=p.headers())
            assert resp.status_code == 200
            _refused_everywhere(tools)

            assert httpx.delete(f"{p.url}/api/admin/users/{user_id}", headers=p.headers()).status_code == 200
            _refused_everywhere(tools)


def test_token_issued_before_a_password_reset_is_refused(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, with_tools=True, identity_cache_seconds=0) as p:
        old = p.signup("trudy")
        user_id = httpx.get(p.url + "/api/auth/me", headers=p.headers(old)).json()["id"]
        resp = httpx.patch(
            f"{p.url}/api/admin/users/{user_id}", json={"password": "a-new-password-1"}, headers=p.headers()
        )
        assert resp.status_code == 200
        new = p.login("trudy", "a-new-password-1")
        with _tools(p.settings.tools_url, old) as tools:
            assert tools.get(COLLECTIONS).status_code == 401
        with _tools(p.settings.tools_url, new) as tools:
            assert tools.get(COLLECTIONS).status_code == 200


def _add_api_key(db_path: Path, user_id: str, key: str, *, revoked: bool = False) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS apikey (id VARCHAR PRIMARY KEY, user_id VARCHAR, name VARCHAR, "
            "key_hash VARCHAR, created_at DATETIME, last_used_at DATETIME, revoked BOOLEAN)"
        )
        digest = hashlib.sha256(key.encode()).hexdigest()
        conn.execute(
            "INSERT INTO apikey VALUES (?, ?, 'k', ?, '2026-01-01 00:00:00', NULL, ?)",
            (digest[:32], user_id, digest, int(revoked)),
        )


def test_api_keys_work_until_revoked_or_the_owner_is_disabled(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, with_tools=True, identity_cache_seconds=0) as p:
        token = p.signup("carol")
        user_id = httpx.get(p.url + "/api/auth/me", headers=p.headers(token)).json()["id"]
        db_path = p.settings.data_dir / "app.db"
        good, revoked = "sk-llmapi-" + "a" * 40, "sk-llmapi-" + "b" * 40
        _add_api_key(db_path, user_id, good)
        _add_api_key(db_path, user_id, revoked, revoked=True)
        url = p.settings.tools_url
        as_header = httpx.get(url + COLLECTIONS, headers={"X-API-Key": good})
        assert as_header.status_code == 200, as_header.text
        assert httpx.get(url + COLLECTIONS, headers={"Authorization": f"Bearer {good}"}).status_code == 200
        assert httpx.get(url + COLLECTIONS, headers={"X-API-Key": revoked}).status_code == 401
        assert httpx.get(url + COLLECTIONS, headers={"X-API-Key": "sk-llmapi-unknown"}).status_code == 401
        # The user named by the key, never the X-User-Id header.
        created = httpx.post(
            url + COLLECTIONS, json={"name": "mine"}, headers={"X-API-Key": good, "X-User-Id": "someone-else"}
        )
        assert created.status_code == 201
        listed = httpx.get(url + COLLECTIONS, headers={"X-API-Key": good}).json()["data"]
        assert "mine" in str(listed)
        httpx.patch(f"{p.url}/api/admin/users/{user_id}", json={"disabled": True}, headers=p.headers())
        assert httpx.get(url + COLLECTIONS, headers={"X-API-Key": good}).status_code == 401


NON_ASCII = [
    {"X-API-Key": "clé-secrète"},
    {"Authorization": "Bearer jeton-é"},
    {"Authorization": "Bearer sk-llmapi-ü"},
    {"X-API-Key": "ключ", "X-User-Id": "alice"},
]


def test_non_ascii_credentials_are_a_401(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, with_tools=True) as p:
        for headers in NON_ASCII:
            raw = [(k.encode(), v.encode("utf-8")) for k, v in headers.items()]
            resp = httpx.get(p.settings.tools_url + COLLECTIONS, headers=raw)
            assert resp.status_code == 401, (headers, resp.text)
        forged_but_signed = create_access_token("ghost", p.settings.jwt_secret, hours=1)
        with _tools(p.settings.tools_url, forged_but_signed) as tools:
            assert tools.get(COLLECTIONS).status_code == 401


def test_cache_lasts_at_most_its_ttl(tmp_path: Path) -> None:
    """A disable reaches a cached reader after the TTL, measured on an injected clock."""
    settings = make_settings(tmp_path)
    ensure_account(settings, "dave")
    now = [100.0]
    store = IdentityStore(settings.db_url, ttl=2.0, clock=lambda: now[0])

    async def scenario() -> list[bool | None]:
        seen: list[bool | None] = []
        first = await store.account("dave")
        seen.append(first.disabled if first else None)
        with sqlite3.connect(settings.data_dir / "app.db") as conn:
            conn.execute("UPDATE user SET disabled = 1 WHERE id = 'dave'")
        now[0] += 1.9
        cached = await store.account("dave")
        seen.append(cached.disabled if cached else None)
        now[0] += 0.2
        fresh = await store.account("dave")
        seen.append(fresh.disabled if fresh else None)
        await store.close()
        return seen

    assert asyncio.run(scenario()) == [False, False, True]
    assert IdentityStore(settings.db_url, ttl=60).ttl == 2.0
