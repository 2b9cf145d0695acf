"""Faults: the client gets a clear error or a degraded answer, the service stays up, and every
session is consistent afterwards (no half turn, no fragment passed off as an answer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import Reply, ScriptedLLM, tool_call
from tests.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _post(p: Platform, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(p.v1 + "/chat/completions", json=body, headers=p.headers(), timeout=120)


def _history(url: str, headers: dict[str, str], sid: str) -> list[tuple[str, str]]:
    resp = httpx.get(f"{url}/api/chat/history/{sid}", headers=headers, timeout=30)
    if resp.status_code == 404:
        return []
    return [(m["role"], m["content"]) for m in resp.json()["messages"] if not m.get("tool_calls")]


def test_a_backend_that_times_out_is_a_504_and_stores_nothing(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, llm_timeout=0.5) as p:
        assert _post(p, {"model": "chat", "session_id": "t", "messages": [{"role": "user", "content": "a"}]}).is_success
        p.llm.push(Reply(content="late", delay=5), Reply(content="late", delay=5))  # the app's SDK retries once
        resp = _post(p, {"model": "chat", "session_id": "t", "messages": [{"role": "user", "content": "b"}]})
        assert resp.status_code == 504 and resp.json()["error"]["code"] == "backend_timeout"
        assert _history(p.url, p.headers(), "t") == [("user", "a"), ("assistant", "echo: a")]
        assert httpx.get(p.url + "/health").status_code == 200


def test_tools_app_down_gives_the_agent_a_tool_error_not_a_failed_turn(data_dir: Path, llm_server: ScriptedLLM) -> None:
    # serve_platform without tools: TOOLS_URL points at a port nothing listens on.
    with serve_platform(data_dir, llm_server, tools_url=f"http://127.0.0.1:{free_port()}") as p:
        p.llm.push(Reply(tool_calls=[tool_call("python_coder", {"code": "print(6*7)"})]), "the tools are down")
        body = {"model": "react", "session_id": "tools-down", "messages": [{"role": "user", "content": "6*7?"}]}
        resp = _post(p, body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["choices"][0]["message"]["content"] == "the tools are down"
        tool_msgs = [m for m in p.llm.requests[-1]["messages"] if m["role"] == "tool"]
        assert tool_msgs and "Error" in tool_msgs[0]["content"], tool_msgs
        # Plain chat keeps working meanwhile.
        assert _post(p, {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200


def _app_env(data_dir: Path, llm: ScriptedLLM) -> dict[str, str]:
    """The main app on the scripted backend, with no tools app (TOOLS_URL points nowhere)."""
    return {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "test",
        "DEFAULT_AGENT": "chat",
        "TOOLS_URL": f"http://127.0.0.1:{free_port()}",
    }


def _main_app(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)


def test_main_app_killed_mid_run_keeps_earlier_turns_and_drops_the_interrupted_one(
    data_dir: Path, llm_server: ScriptedLLM
) -> None:
    env = _app_env(data_dir, llm_server)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _main_app(env, port)
    try:
        wait_healthy(url, proc, "the main app")
        token = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"}, timeout=60)
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        def turn(text: str, timeout: float = 60) -> httpx.Response:
            body = {"model": "chat", "session_id": "kill", "messages": [{"role": "user", "content": text}]}
            return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=timeout)

        assert turn("one").status_code == 200
        llm_server.push(Reply(content="never delivered", delay=600))
        seen = len(llm_server.requests)
        with httpx.Client(timeout=60) as client:
            body = {
                "model": "chat",
                "session_id": "kill",
                "stream": True,  # headers come at once, so the run is killed while the client waits
                "messages": [{"role": "user", "content": "two"}],
            }
            request = client.build_request("POST", url + "/v1/chat/completions", json=body, headers=headers)
            pending = client.send(request, stream=True)
            while len(llm_server.requests) == seen:  # the run is at the model
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            pending.close()
        proc = _main_app(env, port)
        wait_healthy(url, proc, "the main app")
        assert _history(url, headers, "kill") == [("user", "one"), ("assistant", "echo: one")]
        assert turn("three").status_code == 200
        assert _history(url, headers, "kill") == [
            ("user", "one"),
            ("assistant", "echo: one"),
            ("user", "three"),
            ("assistant", "echo: three"),
        ]
    finally:
        proc.kill()
        proc.wait(30)


def test_a_full_disk_is_a_clear_503_and_leaves_sessions_whole(tmp_path: Path, llm_server: ScriptedLLM) -> None:
    """DATA_DIR on a 4 MB tmpfs (bubblewrap's --size): big turns fill it; the turn that does
    not fit is a 503, the app stays up, and every stored turn is whole."""
    data = tmp_path / "small"
    data.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _app_env(data, llm_server)
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port)]
    # --die-with-parent: killing bwrap below also ends the app inside it (it outlived the test before)
    tmpfs = ["--size", str(4 * 1024 * 1024), "--tmpfs", str(data)]
    bwrap = ["bwrap", "--die-with-parent", "--dev-bind", "/", "/", *tmpfs, "--"]
    proc = subprocess.Popen(bwrap + uvicorn, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url, proc, "the main app")
        token = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"}, timeout=60)
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        big = "x" * 400_000
        statuses = []
        for i in range(12):
            llm_server.push("ok")
            body = {"model": "chat", "session_id": f"d{i % 3}", "messages": [{"role": "user", "content": f"{i} {big}"}]}
            resp = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=120)
            statuses.append(resp.status_code)
            if resp.status_code != 200:
                assert resp.status_code == 503, resp.text
                assert resp.json()["error"]["code"] == "storage_unavailable"
                assert "Retry-After" in resp.headers
        assert 503 in statuses, statuses
        assert httpx.get(url + "/health", timeout=30).status_code == 200
        for sid in ("d0", "d1", "d2"):
            turns = _history(url, headers, sid)
            assert [role for role, _ in turns] == ["user", "assistant"] * (len(turns) // 2), sid
            assert all(text == "ok" for role, text in turns if role == "assistant")
    finally:
        proc.kill()
        proc.wait(30)
