"""`llm-api serve` as a user runs it: both apps start, answer the openai SDK, and stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.scripted_llm import ScriptedLLM
from tests.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _serve_env(data_dir: Path, llm: ScriptedLLM, main_port: int, tools_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "SERVER_PORT": str(main_port),
        "TOOLS_PORT": str(tools_port),
        "TOOLS_URL": f"http://127.0.0.1:{tools_port}",
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "test",
        "DEFAULT_AGENT": "chat",
    }


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_serve_starts_both_apps_and_stops_cleanly(data_dir: Path, llm_server: ScriptedLLM) -> None:
    main_port, tools_port = free_port(), free_port()
    env = _serve_env(data_dir, llm_server, main_port, tools_port)
    # Started the way a shell starts a background job (`make run &`): SIGINT ignored on entry.
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=ROOT,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    base = f"http://127.0.0.1:{main_port}"
    try:
        wait_healthy(base, proc, "llm-api serve", timeout=90)
        health = httpx.get(base + "/health").json()
        assert health["tools"]["reachable"] is True
        token = httpx.post(base + "/api/auth/login", json={"username": "admin", "password": "administrator"})
        client = openai.OpenAI(base_url=base + "/v1", api_key=token.json()["access_token"], max_retries=0)
        llm_server.push("served")
        resp = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        assert resp.choices[0].message.content == "served"
        children = _children(proc.pid)
        assert len(children) == 2, "tools app and main app run as child processes"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in _children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            raise AssertionError("llm-api serve ignored Ctrl-C") from None
    for pid in children:
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"child {pid} still running after Ctrl-C")


def test_a_crashed_tools_app_is_restarted_and_chat_keeps_working(data_dir: Path, llm_server: ScriptedLLM) -> None:
    """`llm-api serve` supervises its children: SIGKILL the tools app, the main app keeps
    answering, the supervisor logs the crash and starts a new tools app."""
    main_port, tools_port = free_port(), free_port()
    env = _serve_env(data_dir, llm_server, main_port, tools_port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{main_port}"
    tools = f"http://127.0.0.1:{tools_port}/health"

    def up(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_for(cond: Any, what: str) -> None:
        deadline = time.monotonic() + 120  # a hang guard, not a speed requirement
        while not cond():
            assert proc.poll() is None, "llm-api serve exited"
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    try:
        wait_for(lambda: up(base + "/health"), "the main app did not come up")
        pid_file = data_dir / "run" / "tools app.pid"
        old_pid = int(pid_file.read_text())
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: not up(tools), "the tools app did not go down")
        # Chat does not need the tools app: it still works while the tools app is down.
        token = httpx.post(base + "/api/auth/login", json={"username": "admin", "password": "administrator"})
        client = openai.OpenAI(base_url=base + "/v1", api_key=token.json()["access_token"], max_retries=0)
        resp = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "still here"}])
        assert resp.choices[0].message.content == "echo: still here"
        wait_for(lambda: up(tools) and int(pid_file.read_text()) != old_pid, "the tools app was not restarted")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in _children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            raise
    assert "tools app exited with status" in err and "restarting it" in err


def test_serve_lets_uvicorn_drain_for_drain_grace_seconds(data_dir: Path) -> None:
    """On SIGTERM uvicorn cancels open requests after --timeout-graceful-shutdown: that must be
    the drain grace, not a fixed 5 s that cuts a streamed agent run short during a deploy."""
    from app import cli
    from tests.conftest import make_settings

    settings = make_settings(data_dir, drain_grace_seconds=42.5)
    for cmd in (cli._main_app(settings), cli._tools_app(settings)):
        assert cmd[cmd.index("--timeout-graceful-shutdown") + 1] == "43"


def _gone(pid: int, timeout: float = 120) -> bool:
    """Whether `pid` has ended (reaped or a zombie) within `timeout` s (generous: an event wait)."""
    deadline = time.monotonic() + timeout
    while True:
        state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
        if not state.strip() or state.strip().startswith("Z"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def test_stopping_llm_api_main_stops_its_server(data_dir: Path, llm_server: ScriptedLLM) -> None:
    """`llm-api main` runs uvicorn as a child: a SIGTERM to it drains and ends that child,
    and so does killing it outright (the child used to keep serving, orphaned)."""
    for stop in (signal.SIGTERM, signal.SIGKILL):
        port = free_port()
        env = {**_serve_env(data_dir / stop.name, llm_server, port, free_port()), "SERVER_WORKERS": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "main"], cwd=ROOT, env=env)
        servers: list[int] = []
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc, "llm-api main", timeout=90)
            servers = _children(proc.pid)
            assert len(servers) == 1, servers
            proc.send_signal(stop)
            proc.wait(timeout=120)
            assert _gone(servers[0]), f"after {stop.name} to llm-api main, its uvicorn still runs"
        finally:
            for pid in servers:  # reparented once its parent is gone: not among proc's children
                if not _gone(pid, timeout=0):
                    os.kill(pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.kill()
