"""Workers per replica, 1 vs 2: the main app (SERVER_WORKERS) on SQLite and on PostgreSQL with
bench/scale.py's client (gateway overhead, then many sessions at once), and the tools app
(TOOLS_SERVER_WORKERS) under python_coder runs from many sessions at once. Runs alternate
(1, 2, 2, 1, ...) so a neighbour's load on this shared machine hits both alike.

    .venv/bin/python bench/workers.py [--n 20] [--sessions 64] [--turns 2] [--rounds 2] [--tools-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gateway import platform_env, start, wait_up  # noqa: E402
from scale import measure, single  # noqa: E402

from settings import Settings  # noqa: E402
from tests.accounts import ensure_account  # noqa: E402
from tests.pg import postgres_server  # noqa: E402
from tests.servers import free_port  # noqa: E402
from tools_service.client import ToolsClient  # noqa: E402

CODE = "import json\nprint(json.dumps(sorted(range(2000), key=lambda x: -x)[:3]))"


@contextmanager
def tools_app(env: dict[str, str], workers: int) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "tools_service.main:create_app", "--port", str(port)]
    proc = start([*cmd, "--workers", str(workers), "--log-level", "warning"], env)
    try:
        wait_up(f"http://127.0.0.1:{port}/health/ready", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


async def tool_runs(url: str, key: str, sessions: int, runs: int) -> tuple[float, int]:
    """`sessions` users at once, `runs` python_coder calls each; (runs/s, failures)."""
    failures = 0
    async with ToolsClient(url, key, timeout=120) as client:

        async def one(i: int) -> None:
            nonlocal failures
            for _ in range(runs):
                result = await client.python_coder(f"u{i}", f"s{i}", CODE)
                failures += 0 if result.success and "1999" in str(result.data.get("stdout")) else 1

        await client.python_coder("u0", "warm", CODE)
        start_ = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(sessions)))
        return sessions * runs / (time.perf_counter() - start_), failures


def measure_tools(tmp: str, args: argparse.Namespace) -> dict[int, list[tuple[float, int]]]:
    key = secrets.token_urlsafe(32)
    data_dir = Path(tmp) / "tools"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(data_dir), "TOOLS_API_KEY": key}
    env["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
    env["LOG_LEVEL"] = "WARNING"
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    for i in range(args.tool_sessions):
        ensure_account(settings, f"u{i}")
    found: dict[int, list[tuple[float, int]]] = {}
    for round_ in range(args.rounds):
        for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
            with tools_app(env, workers) as url:
                figures = asyncio.run(tool_runs(url, key, args.tool_sessions, args.tool_runs))
            found.setdefault(workers, []).append(figures)
            print(f"# tools workers={workers}: {figures}", flush=True)
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20, help="sequential requests for the overhead row")
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--stores", default="sqlite,postgresql")
    ap.add_argument("--tool-sessions", type=int, default=8)
    ap.add_argument("--tool-runs", type=int, default=6)
    ap.add_argument("--tools-only", action="store_true")
    args = ap.parse_args()
    if args.tools_only:
        args.stores = ""
    llm_port = free_port()
    results: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = platform_env(tmp, llm_port, PYTHONPATH=str(ROOT))  # each run sets its own DATA_DIR
        llm = start([sys.executable, "-m", "tests.scripted_llm", "--port", str(llm_port)], env)
        stack.callback(llm.terminate)
        wait_up(f"http://127.0.0.1:{llm_port}/v1/models", llm)
        direct = openai.OpenAI(base_url=f"http://127.0.0.1:{llm_port}/v1", api_key="x", max_retries=0)
        stores = [s for s in args.stores.split(",") if s]
        pg = stack.enter_context(postgres_server()) if "postgresql" in stores else ""
        run = 0
        for round_ in range(args.rounds):
            for store in stores:
                for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
                    run += 1
                    extra = {"DATABASE_URL": pg, "CHECKPOINT_URL": pg} if store == "postgresql" else {}
                    with single({**env, **extra, "DATA_DIR": f"{tmp}/{run}"}, workers) as base:
                        figures = measure(base, direct, args)
                    results.setdefault((store, workers), []).append(figures)
                    print(f"# {store} workers={workers}: {figures}", flush=True)
        tools = measure_tools(tmp, args)
    print(f"{'store':11} {'workers':>7} {'added p50 (median)':>19} {f'{args.sessions} sessions t/s':>22} errors")
    for (store, workers), rows in sorted(results.items()):
        overhead = statistics.median(r[0] for r in rows)
        rates = ", ".join(f"{r[1]:.1f}" for r in rows)
        print(f"{store:11} {workers:7d} {overhead:16.1f} ms {rates:>22} {sum(r[2] for r in rows):6d}")
    print(f"tools app, {args.tool_sessions} sessions x {args.tool_runs} python_coder runs at once")
    for workers, runs in sorted(tools.items()):
        rates = ", ".join(f"{r[0]:.1f}" for r in runs)
        print(f"  workers {workers}: {rates} runs/s, {sum(r[1] for r in runs)} failures")


if __name__ == "__main__":
    main()
