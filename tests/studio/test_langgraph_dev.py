"""`langgraph dev` serves all five agents from `langgraph.json`, offline.

The server runs as a real subprocess (the CLI from `langgraph-cli[inmem]`) on a free port
(never 2024, the default a developer may already use), with the backend pointed at a
scripted OpenAI-compatible server so no model is loaded and nothing leaves the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scripted_llm import ScriptedLLM, scripted_llm
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
AGENTS = {"chat", "react", "plan_execute", "ultrawork", "auto"}
CLI = Path(sys.executable).with_name("langgraph")


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with scripted_llm() as server:
        yield server


@pytest.fixture
def dev_server(llm: ScriptedLLM, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    assert port != 2024
    env = {
        **os.environ,
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "test",
        "OPENAI_MODEL": "scripted",
        "DATA_DIR": str(tmp_path / "data"),
        "TOOLS_URL": "http://127.0.0.1:9",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "DO_NOT_TRACK": "1",
    }
    log = (tmp_path / "langgraph-dev.log").open("w")
    proc = subprocess.Popen(
        [str(CLI), "dev", "--no-browser", "--no-reload", "--port", str(port), "--config", str(ROOT / "langgraph.json")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited: {(tmp_path / 'langgraph-dev.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start: {(tmp_path / 'langgraph-dev.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_langgraph_dev_serves_all_five_agents(dev_server: str, llm: ScriptedLLM) -> None:
    found = httpx.post(f"{dev_server}/assistants/search", json={"limit": 50}, timeout=10).json()
    assert {a["graph_id"] for a in found} == AGENTS

    # Each graph is really runnable there: the chat agent answers through the scripted backend.
    run = httpx.post(
        f"{dev_server}/runs/wait",
        json={"assistant_id": "chat", "input": {"messages": [{"role": "user", "content": "hello studio"}]}},
        timeout=30,
    ).json()
    assert run["messages"][-1]["content"] == "echo: hello studio"
    assert llm.requests and llm.requests[-1]["model"] == "scripted"
