"""The main app's log stays JSON: Python warnings raised while it serves are log records.

The app runs as a user starts it (`llm-api main`, a uvicorn child process) on the scripted
backend. A `plan_execute` turn makes structured-output calls while the graph streams, where
langchain-openai dumps the OpenAI SDK's parsed chunks and pydantic warns
(`PydanticSerializationUnexpectedValue ... field_name='parsed'`): that warning, which used to
print as plain text between the JSON lines, must arrive as a JSON record of `py.warnings`,
once per process rather than once per call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.scripted_llm import ScriptedLLM
from tests.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _json(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def test_warnings_are_json_log_records(data_dir: Path, llm_server: ScriptedLLM) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "SERVER_PORT": str(port),
        "TOOLS_URL": f"http://127.0.0.1:{free_port()}",  # nothing there: tools are not needed
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": llm_server.url,
        "OPENAI_API_KEY": "test",
    }
    env.pop("PYTHONWARNINGS", None)
    log = (data_dir.parent / "stderr.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "main"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, "llm-api main", timeout=90)
        token = httpx.post(base + "/api/auth/login", json={"username": "admin", "password": "administrator"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # Streamed: the structured calls then stream through langchain-openai's SDK path,
        # which raises the warning below (a non-streaming turn makes them without streaming).
        body = {"model": "plan_execute", "messages": [{"role": "user", "content": "Plan a picnic"}], "stream": True}
        resp = httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=120)
        assert resp.status_code == 200, resp.text
        assert "data: [DONE]" in resp.text, resp.text
        assert any(r.get("response_format") for r in llm_server.requests)  # structured output was used
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.seek(0)
    lines = [line for line in log.read().splitlines() if line.strip()]
    plain = [line for line in lines if _json(line) is None]
    assert not [line for line in plain if "Warning" in line or "PydanticSerialization" in line], plain
    warned = [r for line in lines if (r := _json(line)) and r.get("logger") == "py.warnings"]
    noise = [r for r in warned if "PydanticSerializationUnexpectedValue" in r["msg"]]
    # Raised on each of the turn's structured calls (planner, replanner): logged once.
    assert len(noise) == 1, "if langchain-openai stopped raising it, trigger another warning here"
    assert all(r["level"] == "WARNING" and "request_id" in r for r in warned)
    stored = (data_dir / "logs" / "main.log").read_text()
    assert '"logger": "py.warnings"' in stored
