"""Fairness between users (issue 11, item 4): run slots, disk quota, sign-up rate.

No clocks: user A's runs wait for a file the test writes, so "B finished while A was
still running" is an ordering of events, not a measured time.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx

from app.db import Database
from app.services import throttle
from core.errors import APIError
from tests.conftest import make_settings
from tests.integration.conftest import serve_platform
from tests.scripted_llm import ScriptedLLM
from tests.tools_service.conftest import CODE, ToolsAppFactory, requires_bwrap

WAIT_FOR_STOP = """
import os, time
open('started-' + str(os.getpid()), 'w').close()
while not os.path.exists('stop'):
    time.sleep(0.05)
print('a done')
"""


@requires_bwrap
def test_one_users_runs_do_not_block_another_user(tools_app_factory: ToolsAppFactory) -> None:
    """Two slots in all, one per user: A's second run queues behind her first, B runs."""
    with tools_app_factory(python_exec_max_concurrent=2, python_exec_max_concurrent_per_user=1) as app:
        results: list[httpx.Response] = []
        alice = app.user("alice", timeout=300)

        def run_a(session: str) -> None:
            results.append(alice.post(CODE, json={"code": WAIT_FOR_STOP, "session_id": session, "timeout": 120}))

        threads = [threading.Thread(target=run_a, args=(f"s{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        workspaces = [app.workspace("alice", f"s{i}") for i in range(2)]

        def started() -> list[Path]:
            return [f for w in workspaces if w.exists() for f in w.glob("started-*")]

        while not started():  # wait for the event: one of A's runs holds a slot
            threading.Event().wait(0.05)
        b = app.user("bob", timeout=120).post(CODE, json={"code": "print(1)", "session_id": "b"})
        assert b.status_code == 200 and b.json()["data"]["stdout"] == "1\n", b.text
        # A's runs are still going: nothing of hers has finished, and only one has started.
        assert results == []
        assert len(started()) == 1
        for w in workspaces:
            w.mkdir(parents=True, exist_ok=True)
            (w / "stop").touch()
        for t in threads:
            t.join(300)
        assert [r.json()["data"]["stdout"] for r in results] == ["a done\n", "a done\n"]


@requires_bwrap
def test_disk_quota_counts_every_session_upload_and_collection(tools_app_factory: ToolsAppFactory) -> None:
    write = "open('blob.bin', 'wb').write(b'x' * {n})\nprint('wrote')"
    with tools_app_factory(user_disk_quota_mb=1, python_exec_workspace_quota_mb=1) as app:
        carol = app.user("carol")
        first = carol.post(CODE, json={"code": write.format(n=700_000), "session_id": "one"}).json()
        assert first["success"], first
        second = carol.post(CODE, json={"code": write.format(n=700_000), "session_id": "two"}).json()
        assert not second["success"] and second["metadata"]["stopped"] == "quota", second
        assert not (app.workspace("carol", "two") / "blob.bin").exists()
        # RAG uploads count against the same quota.
        assert carol.post("/api/tools/rag/collections", json={"name": "docs"}).status_code == 201
        files = [("files", ("big.txt", b"word " * 100_000))]
        resp = carol.post("/api/tools/rag/upload", data={"collection": "docs"}, files=files)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "quota_exceeded", resp.text
        # Over quota, no new run starts; another user is unaffected.
        (app.workspace("carol", "one") / "more.bin").write_bytes(b"y" * 400_000)
        third = carol.post(CODE, json={"code": "print(1)", "session_id": "three"}).json()
        assert not third["success"] and third["metadata"]["error"] == "quota", third
        assert "disk quota" in third["answer"]
        dave = app.user("dave").post(CODE, json={"code": write.format(n=700_000), "session_id": "one"}).json()
        assert dave["success"], dave


def test_chat_uploads_count_against_the_quota(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, user_disk_quota_mb=1) as p:
        token = p.signup("erin")
        data = {"model": "chat", "session_id": "q", "messages": '[{"role": "user", "content": "hi"}]'}
        files = [("files", ("big.csv", b"a,b\n" + b"1,2\n" * 300_000, "text/csv"))]
        resp = httpx.post(p.v1 + "/chat/completions", headers=p.headers(token), data=data, files=files, timeout=60)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "quota_exceeded", resp.text
        assert not (data_dir / "uploads").exists() or not any(f.is_file() for f in (data_dir / "uploads").rglob("*"))


def test_signup_is_rate_limited_per_address(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, signup_max_per_ip=3) as p:
        for i in range(3):
            p.signup(f"user{i}")
        resp = httpx.post(p.url + "/api/auth/signup", json={"username": "user3", "password": "correct-horse-battery"})
        assert resp.status_code == 429, resp.text
        assert resp.json()["error"]["code"] == "signup_throttled"
        assert int(resp.headers["Retry-After"]) > 0
        # Logins are not affected by the sign-up budget.
        assert p.login("user0", "correct-horse-battery")


def test_signup_window_expires_on_an_injected_clock(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, signup_max_per_ip=2, signup_window_seconds=60)

    async def scenario() -> list[str]:
        db = Database(settings)
        await db.init()
        seen = []
        try:
            for now in (1000.0, 1001.0, 1002.0, 1059.0, 1061.0):
                try:
                    await throttle.count_signup(db, settings, "10.0.0.9", now=now)
                    seen.append("ok")
                except APIError as exc:
                    seen.append(str(exc.status))
            await throttle.count_signup(db, settings, "10.0.0.10", now=1002.0)  # another address
        finally:
            await db.close()
        return seen

    assert asyncio.run(scenario()) == ["ok", "ok", "429", "429", "ok"]


def test_over_quota_only_new_files_are_refused(data_dir: Path, llm_server: ScriptedLLM) -> None:
    """The disk quota bounds what a user stores: at the limit, a turn that brings files is
    refused (413, nothing stored), while a turn without files still gets its answer."""
    with serve_platform(data_dir, llm_server, user_disk_quota_mb=1) as p:
        token = p.signup("fay")
        url, headers = p.v1 + "/chat/completions", p.headers(token)
        data = {"model": "chat", "session_id": "f", "messages": '[{"role": "user", "content": "hi"}]'}
        notes = [("files", ("notes.txt", b"note " * 140_000, "text/plain"))]  # 700 kB of the 1 MiB
        first = httpx.post(url, headers=headers, data=data, files=notes, timeout=60)
        assert first.status_code == 200, first.text
        stored = sorted(f for f in data_dir.rglob("notes.txt") if f.is_file())
        assert stored  # the first upload is kept
        second = httpx.post(url, headers=headers, data=data, files=notes, timeout=60)
        assert second.status_code == 413 and second.json()["error"]["code"] == "quota_exceeded", second.text
        assert sorted(f for f in data_dir.rglob("notes.txt") if f.is_file()) == stored  # nothing more stored
        (stored[0].parent / "filler.bin").write_bytes(b"0" * 1024 * 1024)  # now over the quota outright
        body = {"model": "chat", "session_id": "f", "messages": [{"role": "user", "content": "still there?"}]}
        plain = httpx.post(url, headers=headers, json=body, timeout=60)
        assert plain.status_code == 200, plain.text
        assert plain.json()["choices"][0]["message"]["content"]
