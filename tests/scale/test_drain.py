"""SIGTERM drains a main-app process: the run in flight gets DRAIN_GRACE_SECONDS, then is
cancelled and rolled back, and the process exits (the server itself would wait forever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.scale.test_cancel_across_replicas import SLOW
from tests.scripted_llm import Reply, ScriptedLLM
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def main_process(data_dir: Path, llm: ScriptedLLM) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATA_DIR": str(data_dir),
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "test",
        "OPENAI_MODEL": "scripted-model",
        "DEFAULT_AGENT": "chat",
        "TOOLS_URL": "http://127.0.0.1:9",
        "DRAIN_GRACE_SECONDS": "1",
    }
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port)]
    # No graceful-shutdown timeout of the server's own: only the drain can end the slow run.
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert proc.poll() is None, "the app did not start"
            try:
                if httpx.get(url + "/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _chat(url: str, h: dict[str, str], *texts: str) -> httpx.Response:
    messages = [{"role": "user", "content": t} for t in texts]
    body = {"model": "chat", "session_id": "drained", "messages": messages}
    return httpx.post(url + "/v1/chat/completions", headers=h, json=body, timeout=SLOW * 2)


def test_sigterm_cancels_and_rolls_back_a_run_that_outlives_the_grace(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with main_process(data_dir, llm_server) as (url, proc):
        login = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"})
        h = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert _chat(url, h, "kept").status_code == 200
        llm_server.push(Reply(content="too late", delay=SLOW))
        out: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: out.update(resp=_chat(url, h, "kept", "cut short")))
        thread.start()
        while not httpx.get(url + "/api/chat/sessions/drained", headers=h).json()["running"]:
            assert thread.is_alive()
        proc.send_signal(signal.SIGTERM)
        thread.join(SLOW / 2)
        assert not thread.is_alive(), "the run outlived the drain"
        assert out["resp"].status_code == 409 and out["resp"].json()["error"]["code"] == "cancelled"
        # uvicorn re-raises the SIGTERM it handled once shut down: the exit says "by SIGTERM".
        assert proc.wait(SLOW / 2) in (0, -signal.SIGTERM)
    with main_process(data_dir, llm_server) as (url, _):  # the turn was rolled back before exit
        login = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"})
        h = {"Authorization": f"Bearer {login.json()['access_token']}"}
        history = httpx.get(url + "/api/chat/history/drained", headers=h).json()["messages"]
        assert [m["content"] for m in history] == ["kept", "echo: kept"]
