"""Answers that say what actually happened: a form field that is not JSON is named, and
`/health` gives the real reason for the backend `llm-api serve` chose."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Platform
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_a_form_field_that_is_not_json_is_named(platform: Platform, encoding: str) -> None:
    fields = {"model": "chat", "messages": "hello"}
    if encoding == "multipart":
        resp = httpx.post(
            platform.v1 + "/chat/completions",
            headers=platform.headers(),
            files={k: (None, v) for k, v in fields.items()},
        )
    else:
        resp = httpx.post(platform.v1 + "/chat/completions", headers=platform.headers(), data=fields)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == "messages" and error["code"] == "invalid_json"
    assert error["message"].startswith("messages is not valid JSON")
    assert "request body" not in error["message"]
    assert platform.llm.requests == []


@pytest.mark.slow
def test_health_gives_the_reason_serve_chose_the_backend(data_dir: Path) -> None:
    """`serve` picks the backend (here: nothing answers, so the embedded model) and starts the
    main app with `LLM_BACKEND` set to its choice; `/health` must still say why."""
    main_port, tools_port = free_port(), free_port()
    nobody = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "SERVER_PORT": str(main_port),
        "TOOLS_PORT": str(tools_port),
        "TOOLS_URL": f"http://127.0.0.1:{tools_port}",
        "LLM_BACKEND": "auto",
        "OLLAMA_HOST": nobody,
        "LLAMACPP_HOST": nobody,
        "EMBEDDED_CTX_SIZE": "2048",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "llm-api serve exited during start-up"
            try:
                resp = httpx.get(f"http://127.0.0.1:{main_port}/health", timeout=2)
                if resp.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the main app did not come up"
            time.sleep(0.3)
        backend = resp.json()["backend"]
        assert backend["name"] == "embedded"
        assert backend["reason"] == f"no Ollama at {nobody} or llama.cpp server at {nobody} answered"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
