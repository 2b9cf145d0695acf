"""Past one machine: gateway overhead and many-session throughput on SQLite vs PostgreSQL,
and with one main replica vs two behind HAProxy (deploy/run-local-cluster).

    .venv/bin/python bench/scale.py [--n 40] [--sessions 64] [--turns 2] [--workers 1]

Same client code for every row (bench/gateway.py's `throughput`): a scripted backend in its
own process, the app(s) in theirs, this client. Figures depend on the machine's cores: the
app, PostgreSQL, HAProxy and the client all share them here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gateway import pct, platform_env, start, throughput, timed, wait_up  # noqa: E402

from tests.pg import postgres_server  # noqa: E402
from tests.servers import free_port  # noqa: E402


@contextmanager
def single(env: dict[str, str], workers: int) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port)]
    proc = start([*cmd, "--workers", str(workers), "--log-level", "warning"], env)
    try:
        wait_up(f"http://127.0.0.1:{port}/health/ready", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


@contextmanager
def cluster(env: dict[str, str], db_url: str, workers: int) -> Iterator[str]:
    cmd = [sys.executable, str(ROOT / "deploy" / "run-local-cluster"), "--database-url", db_url]
    proc = subprocess.Popen([*cmd, "--workers", str(workers)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = next(line for line in proc.stdout if line.startswith("cluster-ready "))
        yield json.loads(line.removeprefix("cluster-ready "))["url"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)


def measure(base: str, direct: openai.OpenAI, args: argparse.Namespace) -> tuple[float, float, int]:
    token = httpx.post(base + "/api/auth/login", json={"username": "admin", "password": "administrator"})
    client = openai.OpenAI(base_url=base + "/v1", api_key=token.json()["access_token"], max_retries=0)
    msg = [{"role": "user", "content": "hello"}]
    for i in range(5):
        client.chat.completions.create(model="chat", messages=msg, extra_body={"session_id": f"w{i}"})  # type: ignore[arg-type]
    d = [timed(lambda: direct.chat.completions.create(model="m", messages=msg)) for _ in range(args.n)]  # type: ignore[arg-type]

    def fresh(i: int) -> float:
        body = {"session_id": f"f{i}"}
        return timed(lambda: client.chat.completions.create(model="chat", messages=msg, extra_body=body))  # type: ignore[arg-type]

    f = [fresh(i) for i in range(args.n)]
    rate, errors = asyncio.run(
        throughput(base + "/v1/chat/completions", token.json()["access_token"], args.sessions, args.turns, "json")
    )
    return pct(f, 0.5) - pct(d, 0.5), rate, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="sequential requests for the overhead row")
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="workers per main replica")
    args = ap.parse_args()
    llm_port = free_port()
    rows: list[tuple[str, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = platform_env(tmp, llm_port, PYTHONPATH=str(ROOT))  # each run sets its own DATA_DIR
        llm = start([sys.executable, "-m", "tests.scripted_llm", "--port", str(llm_port)], env)
        stack.callback(llm.terminate)
        wait_up(f"http://127.0.0.1:{llm_port}/v1/models", llm)
        direct = openai.OpenAI(base_url=f"http://127.0.0.1:{llm_port}/v1", api_key="x", max_retries=0)
        pg = stack.enter_context(postgres_server())
        on_pg = {"DATABASE_URL": pg, "CHECKPOINT_URL": pg}
        configs = [
            ("SQLite, 1 replica", lambda: single({**env, "DATA_DIR": f"{tmp}/a"}, args.workers)),
            ("PostgreSQL, 1 replica", lambda: single({**env, **on_pg, "DATA_DIR": f"{tmp}/b"}, args.workers)),
            ("PostgreSQL, 2 replicas + HAProxy", lambda: cluster({**env, "DATA_DIR": f"{tmp}/c"}, pg, args.workers)),
        ]
        for name, make in configs:
            with make() as base:
                overhead, rate, errors = measure(base, direct, args)
            rows.append((name, overhead, rate, errors))
    print(f"{'setup':34} {'added p50':>10} {f'{args.sessions} sessions':>16} errors")
    for name, overhead, rate, errors in rows:
        print(f"{name:34} {overhead:8.1f} ms {rate:11.1f} t/s {errors:6d}")


if __name__ == "__main__":
    main()
