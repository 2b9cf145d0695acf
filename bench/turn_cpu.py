"""CPU per turn of the main app: the platform's own cost, in a figure a loaded machine skews
far less than latency (another process's load stretches wall time, not this process's CPU).

    .venv/bin/python bench/turn_cpu.py [--n 150]

Same three processes as bench/gateway.py (scripted backend, main app under uvicorn with
SQLite, this client). Rows: a fresh session per turn with the `chat` agent, one long session
(only the new message sent each turn), and a backend model id (pass-through, no agent),
each as the main app's user+system CPU seconds over the requests, divided by their number.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway import platform_env, start_platform, timed  # noqa: E402
from tests.servers import free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=150, help="requests per row")
    args = ap.parse_args()
    llm_port, app_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        # OPENAI_MODEL: the pass-through row names the scripted backend's model.
        llm, app = start_platform(platform_env(tmp, llm_port, OPENAI_MODEL="scripted-model"), llm_port, app_port)
        try:
            base = f"http://127.0.0.1:{app_port}"
            login = {"username": "admin", "password": "administrator"}
            token = httpx.post(base + "/api/auth/login", json=login, timeout=60).json()["access_token"]
            client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0)
            msg: list[Any] = [{"role": "user", "content": "hello"}]
            for i in range(10):  # warm-up
                client.chat.completions.create(model="chat", messages=msg, extra_body={"session_id": f"w{i}"})  # type: ignore[arg-type]
            rows = {
                "fresh session, chat agent": lambda i: client.chat.completions.create(
                    model="chat",
                    messages=msg,
                    extra_body={"session_id": f"f{i}-{time.monotonic_ns()}"},  # type: ignore[arg-type]
                ),
                "one long session, chat agent": lambda i: client.chat.completions.create(
                    model="chat",
                    messages=[{"role": "user", "content": f"t{i}"}],
                    extra_body={"session_id": "long"},  # type: ignore[arg-type]
                ),
                "backend model id (pass-through)": lambda i: client.chat.completions.create(
                    model="scripted-model",
                    messages=msg,  # type: ignore[arg-type]
                ),
            }
            print(f"{'main app, per request':40s} {'CPU ms':>8s} {'p50 ms':>8s}")
            for label, call in rows.items():
                before = cpu_seconds(app.pid)
                walls = [timed(lambda i=i, call=call: call(i)) for i in range(args.n)]  # type: ignore[misc]
                used = (cpu_seconds(app.pid) - before) / args.n * 1000
                print(f"{label:40s} {used:8.1f} {statistics.median(walls):8.1f}")
        finally:
            app.terminate()
            llm.terminate()
            app.wait(30)
            llm.wait(30)


if __name__ == "__main__":
    main()
