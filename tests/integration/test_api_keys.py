"""API keys over real HTTP: shown once, stored hashed, usable as a bearer token with the
owner's rights, refused at once after revocation on every worker, dead with their owner."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from tests.integration.conftest import Platform, platform_settings
from tests.scripted_llm import ScriptedLLM
from tests.servers import serve_app

KEY_RE = re.compile(r"^sk-llmapi-[A-Za-z0-9_-]{43,}$")


def create_key(p: Platform, token: str, name: str = "laptop") -> dict[str, str]:
    resp = httpx.post(p.url + "/api/keys", json={"name": name}, headers=p.headers(token))
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def me(url: str, credential: str) -> httpx.Response:
    return httpx.get(url + "/api/auth/me", headers={"Authorization": f"Bearer {credential}"})


def test_key_is_shown_once_stored_hashed_and_works_as_a_token(platform: Platform) -> None:
    token = platform.signup("alice")
    created = create_key(platform, token)
    assert set(created) == {"id", "name", "key", "created_at"}
    key = created["key"]
    assert KEY_RE.match(key), key
    assert created["name"] == "laptop"

    listed = httpx.get(platform.url + "/api/keys", headers=platform.headers(token)).json()["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert key not in str(listed) and "key_hash" not in listed[0] and "key" not in listed[0]

    with sqlite3.connect(platform.settings.data_dir / "app.db") as conn:
        rows = conn.execute("select key_hash, revoked from apikey").fetchall()
    assert rows == [(hashlib.sha256(key.encode()).hexdigest(), 0)]

    assert me(platform.url, key).json()["username"] == "alice"
    models = httpx.get(platform.v1 + "/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 200 and models.json()["data"]
    platform.llm.push("hello from the scripted model")
    chat = httpx.post(
        platform.v1 + "/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"] == "hello from the scripted model"
    # the session belongs to the key's owner
    sessions = httpx.get(platform.url + "/api/chat/sessions", headers=platform.headers(token)).json()["data"]
    assert [s["id"] for s in sessions] == [chat.json()["x_session_id"]]
    used = httpx.get(platform.url + "/api/keys", headers=platform.headers(key)).json()["data"][0]
    assert used["last_used_at"] is not None


def test_key_carries_its_owners_rights_only(platform: Platform) -> None:
    admin_key = create_key(platform, platform.token, "ops")["key"]
    user_key = create_key(platform, platform.signup("bob"), "bob's")["key"]
    assert httpx.get(platform.url + "/api/admin/users", headers=platform.headers(admin_key)).status_code == 200
    denied = httpx.get(platform.url + "/api/admin/users", headers=platform.headers(user_key))
    assert denied.status_code == 403
    # bob sees only his own keys
    mine = httpx.get(platform.url + "/api/keys", headers=platform.headers(user_key)).json()["data"]
    assert [k["name"] for k in mine] == ["bob's"]


def test_unknown_tampered_and_missing_keys_are_401(platform: Platform) -> None:
    key = create_key(platform, platform.token)["key"]
    for bad in ("sk-llmapi-" + "A" * 43, key[:-1] + ("A" if key[-1] != "A" else "B"), "sk-llmapi-"):
        resp = me(platform.url, bad)
        assert resp.status_code == 401, bad
        assert resp.json()["error"]["type"] == "authentication_error"
    assert httpx.post(platform.url + "/api/keys", json={"name": "x"}).status_code == 401
    assert httpx.get(platform.url + "/api/keys").status_code == 401


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}])
def test_bad_names_are_422_with_the_envelope(platform: Platform, body: dict[str, object]) -> None:
    resp = httpx.post(platform.url + "/api/keys", json=body, headers=platform.headers())
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["message"]


def test_revoking_another_users_key_is_404_and_leaves_it_working(platform: Platform) -> None:
    alice = platform.signup("alice")
    key = create_key(platform, alice)
    resp = httpx.delete(platform.url + f"/api/keys/{key['id']}", headers=platform.headers(platform.signup("eve")))
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "key_not_found"
    assert me(platform.url, key["key"]).status_code == 200


@pytest.fixture
def two_workers(data_dir: Path, llm_server: ScriptedLLM) -> Iterator[tuple[str, str]]:
    """Two main app instances over one database, as two workers of one deployment."""
    settings = platform_settings(data_dir, llm_server)
    with serve_app(create_app(settings)) as first, serve_app(create_app(settings)) as second:
        yield first, second


def test_revoked_key_is_refused_at_once_by_every_worker(two_workers: tuple[str, str]) -> None:
    first, second = two_workers
    token = httpx.post(first + "/api/auth/signup", json={"username": "carol", "password": "long-enough-pw"}).json()[
        "access_token"
    ]
    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(first + "/api/keys", json={"name": "ci"}, headers=auth).json()
    key = created["key"]
    assert me(first, key).status_code == 200
    assert me(second, key).status_code == 200  # the second worker has seen (and could cache) it

    resp = httpx.delete(first + f"/api/keys/{created['id']}", headers=auth)
    assert resp.status_code == 200 and resp.json()["deleted"] is True
    for worker in (second, first):
        refused = me(worker, key)
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]["message"]
    assert httpx.get(first + "/api/keys", headers=auth).json()["data"] == []
    again = httpx.delete(first + f"/api/keys/{created['id']}", headers=auth)
    assert again.status_code == 404


def test_disabled_or_deleted_owners_keys_stop_working(platform: Platform) -> None:
    admin = {"Authorization": f"Bearer {platform.token}"}
    keys = {name: create_key(platform, platform.signup(name))["key"] for name in ("dave", "erin")}
    assert all(me(platform.url, k).status_code == 200 for k in keys.values())

    resp = httpx.patch(platform.url + "/api/admin/users/dave", json={"disabled": True}, headers=admin)
    assert resp.status_code == 200, resp.text
    assert me(platform.url, keys["dave"]).status_code == 401
    resp = httpx.patch(platform.url + "/api/admin/users/dave", json={"disabled": False}, headers=admin)
    assert me(platform.url, keys["dave"]).status_code == 200

    resp = httpx.delete(platform.url + "/api/admin/users/erin", headers=admin)
    assert resp.status_code == 200, resp.text
    assert me(platform.url, keys["erin"]).status_code == 401
    with sqlite3.connect(platform.settings.data_dir / "app.db") as conn:
        owners = {row[0] for row in conn.execute("select user_id from apikey")}
    assert len(owners) == 1  # erin's key went with her account
