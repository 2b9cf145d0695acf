"""Issue 11, low findings: deleting a user removes all they own, DATA_DIR is private,
id-like usernames, the model allow-list and token cap, and Studio's pinned user."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from app.db import Database, User
from app.services import runtime_settings
from core.errors import APIError
from core.pinned import PinnedUserTransport
from tests.conftest import make_settings
from tests.integration.conftest import Platform
from tests.tools_service.conftest import ToolsApp, requires_bwrap
from tools_service.client import ToolsClient


def _user_id(p: Platform, token: str) -> str:
    return str(httpx.get(p.url + "/api/auth/me", headers=p.headers(token)).json()["id"])


@requires_bwrap
def test_deleting_a_user_removes_collections_workspaces_and_uploads(platform_with_tools: Platform) -> None:
    p = platform_with_tools
    token = p.signup("frank")
    uid = _user_id(p, token)
    tools = httpx.Client(base_url=p.settings.tools_url, headers=p.headers(token), timeout=60)
    assert tools.post("/api/tools/rag/collections", json={"name": "notes"}).status_code == 201
    # A workspace with no session row: the code ran through the tools app directly.
    ran = tools.post("/api/tools/python_coder", json={"code": "open('x.txt', 'w').write('x')", "session_id": "solo"})
    assert ran.status_code == 200 and ran.json()["success"], ran.text
    data = {"model": "chat", "session_id": "chat1", "messages": json.dumps([{"role": "user", "content": "hi"}])}
    files = [("files", ("a.csv", b"a,b\n1,2\n", "text/csv"))]
    sent = httpx.post(p.v1 + "/chat/completions", headers=p.headers(token), data=data, files=files, timeout=60)
    assert sent.status_code == 200, sent.text
    owned = [p.settings.data_dir / area / uid for area in ("rag", "scratch", "uploads")]
    assert all(path.is_dir() for path in owned)

    assert httpx.delete(f"{p.url}/api/admin/users/{uid}", headers=p.headers(), timeout=120).status_code == 200
    assert [path for path in owned if path.exists()] == []
    # Only the main app may ask the tools app to remove a user's data.
    other = p.signup("grace")
    refused = httpx.delete(p.settings.tools_url + "/api/tools/accounts/me", headers=p.headers(other))
    assert refused.status_code == 403


def test_everything_under_data_dir_is_private(platform_with_tools: Platform) -> None:
    p = platform_with_tools
    token = p.signup("heidi")
    data = {"model": "chat", "session_id": "s", "messages": json.dumps([{"role": "user", "content": "hi"}])}
    files = [("files", ("n.txt", b"private notes", "text/plain"))]
    httpx.post(p.v1 + "/chat/completions", headers=p.headers(token), data=data, files=files, timeout=60)
    tools = httpx.Client(base_url=p.settings.tools_url, headers=p.headers(token), timeout=60)
    tools.post("/api/tools/rag/collections", json={"name": "c"})
    root = p.settings.data_dir
    for name in ("app.db", "checkpoints.db", "logs/main.log", "uploads", "rag"):
        assert (root / name).exists(), name
    exposed = [
        f"{path.relative_to(root)} {stat.filemode(path.lstat().st_mode)}"
        for path in [root, *root.rglob("*")]
        if not path.is_symlink() and path.lstat().st_mode & 0o077
    ]
    assert exposed == []


def test_an_older_data_dir_is_tightened_at_start(tmp_path: Path) -> None:
    from core.private import make_private

    root = tmp_path / "data"
    (root / "logs").mkdir(parents=True)
    for name in ("app.db", "logs/main.log"):
        (root / name).write_text("x")
        os.chmod(root / name, 0o644)
    os.chmod(root, 0o755)
    make_private(root)
    modes = {name: stat.S_IMODE((root / name).stat().st_mode) for name in ("", "app.db", "logs", "logs/main.log")}
    assert modes == {"": 0o700, "app.db": 0o600, "logs": 0o700, "logs/main.log": 0o600}


def test_usernames_that_look_like_ids_are_refused(platform: Platform) -> None:
    id_like = "0123456789abcdef0123456789ABCDEF"
    signup = httpx.post(platform.url + "/api/auth/signup", json={"username": id_like, "password": "long-enough-pw"})
    assert signup.status_code == 422 and "user id" in signup.json()["error"]["message"]
    created = httpx.post(
        platform.url + "/api/admin/users",
        json={"username": id_like.lower(), "password": "long-enough-pw"},
        headers=platform.headers(),
    )
    assert created.status_code == 422
    assert platform.signup("0123456789abcdef") != ""  # shorter hex names are still names


def test_admin_manages_the_model_allow_list(platform: Platform) -> None:
    url = platform.url + "/api/admin/models/allowed"
    assert httpx.get(url, headers=platform.headers()).json() == {"models": [], "restricted": False}
    put = httpx.put(url, json={"models": ["small-model", "big-model", "small-model"]}, headers=platform.headers())
    assert put.json() == {"models": ["big-model", "small-model"], "restricted": True}
    assert httpx.put(url, json={"models": ["react"]}, headers=platform.headers()).status_code == 400
    user = platform.signup("ivan")
    assert httpx.get(url, headers=platform.headers(user)).status_code == 403
    assert httpx.put(url, json={"models": []}, headers=platform.headers(user)).status_code == 403


def test_check_model_allowed_and_token_cap(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_tokens_limit=1000)

    async def scenario() -> list[int | None]:
        db = Database(settings)
        await db.init()
        user, admin = User(username="u", hashed_password="!"), User(username="a", role="admin", hashed_password="!")
        outcomes: list[int | None] = []
        try:
            async with db.session() as session:
                await runtime_settings.check_model_allowed(session, user, "anything")  # no list: open
                await runtime_settings.set_allowed_models(session, ["small-model"])
                for who, model in ((user, "small-model"), (user, "big-model"), (user, None), (admin, "big-model")):
                    try:
                        await runtime_settings.check_model_allowed(session, who, model)
                        outcomes.append(None)
                    except APIError as exc:
                        outcomes.append(exc.status)
        finally:
            await db.close()
        return outcomes

    assert asyncio.run(scenario()) == [None, 403, None, None]
    runtime_settings.check_max_tokens(settings, 1000)
    runtime_settings.check_max_tokens(settings, None)
    with pytest.raises(APIError) as err:
        runtime_settings.check_max_tokens(settings, 1001)
    assert err.value.status == 400 and err.value.param == "max_tokens"


@requires_bwrap
def test_studio_tools_always_act_as_the_studio_user(tools_app: ToolsApp) -> None:
    """Whatever `user_id` Studio's run context names, the tools app sees the Studio user."""

    async def run() -> dict[str, object]:
        transport = PinnedUserTransport("studio")
        async with ToolsClient(tools_app.url, tools_app.settings.tools_key, transport=transport) as client:
            result = await client.python_coder("victim", "s1", "print('hi')")
        return result.model_dump()

    result = asyncio.run(run())
    assert result["success"], result
    assert tools_app.workspace("studio", "s1").is_dir()
    assert not tools_app.workspace("victim", "s1").exists()
