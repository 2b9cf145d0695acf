# ruff: noqa: RUF001
"""Gateway figures for `make bench`: added latency over the backend (fresh session and deep
in one long session), added time to first token, turns per second with many sessions at
once, checkpoint bytes per turn, and RSS growth. LiteLLM's proxy is measured beside it in
the same run when `litellm` is importable (an optional peer, not a dependency).

    .venv/bin/python bench/gateway.py [--turns 150] [--concurrency 8,32,128] [--soak 2000]

Three processes, as deployed: the scripted OpenAI-compatible backend, the main app
(`uvicorn app.main:create_app`, SQLite, WAL) and this client, all on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import free_port  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url} exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(url)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def ttft(client: openai.OpenAI, **kwargs: Any) -> float:
    start = time.perf_counter()
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        if chunk.choices and chunk.choices[0].delta.content:
            return (time.perf_counter() - start) * 1000
    return (time.perf_counter() - start) * 1000


async def throughput(url: str, token: str, sessions: int, turns: int, mode: str) -> tuple[float, int]:
    """`sessions` at once, `turns` each; returns (turns/s, errors). No client retries."""
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=sessions + 8)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        nonlocal errors
        sid = f"{mode}-{sessions}-{i}-{time.monotonic_ns()}"
        for t in range(turns):
            body: dict[str, Any] = {
                "model": "chat",
                "session_id": sid,
                "messages": [{"role": "user", "content": f"t{t}"}],
            }
            try:
                if mode == "stream":
                    body["stream"] = True
                    async with client.stream("POST", url, json=body, headers=headers) as r:
                        text = "".join([line async for line in r.aiter_lines()])
                        ok = r.status_code == 200 and '"error"' not in text and "[DONE]" in text
                else:
                    r2 = await client.post(url, json=body, headers=headers)
                    ok = r2.status_code == 200 and r2.json()["choices"][0]["message"]["content"] == f"echo: t{t}"
            except httpx.HTTPError:
                ok = False
            errors += 0 if ok else 1

    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one(client, i) for i in range(sessions)))
        elapsed = time.perf_counter() - start
    return sessions * turns / elapsed, errors


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)


def platform_env(data_dir: str, llm_port: int, **extra: str) -> dict[str, str]:
    """The main app's environment: SQLite in `data_dir`, the scripted backend on `llm_port`."""
    return {
        **os.environ,
        "DATA_DIR": data_dir,
        "LLM_BACKEND": "openai",
        "OPENAI_API_KEY": "x",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "DEFAULT_AGENT": "chat",
        "LOG_LEVEL": "WARNING",
        "TOOLS_URL": "http://127.0.0.1:9",
        **extra,
    }


def start_platform(
    env: dict[str, str], llm_port: int, app_port: int
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """The scripted backend and the main app under uvicorn, as deployed; both answering."""
    llm = start([sys.executable, "-m", "tests.scripted_llm", "--port", str(llm_port)], env)
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--log-level", "warning"]
    app = start([*uvicorn, "--port", str(app_port)], env)
    wait_up(f"http://127.0.0.1:{llm_port}/v1/models", llm)
    wait_up(f"http://127.0.0.1:{app_port}/health", app)
    return llm, app


def _litellm() -> list[str] | None:
    """LiteLLM's proxy from its own venv (`make bench-peers`), $LITELLM_BIN, or this one."""
    for candidate in (os.environ.get("LITELLM_BIN", ""), str(ROOT / ".venv-litellm" / "bin" / "litellm")):
        if candidate and Path(candidate).exists():
            return [candidate]
    try:
        import litellm  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "litellm"]


def litellm_row(llm_port: int, env: dict[str, str], n: int) -> list[float] | None:
    cmd = _litellm()
    if cmd is None:
        return None
    port = free_port()
    cfg = Path(env["DATA_DIR"]) / "litellm.yaml"
    cfg.write_text(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n"
        f"      api_base: http://127.0.0.1:{llm_port}/v1\n      api_key: x\n"
    )
    # A throwaway master key: LiteLLM refuses to start without one.
    lite_env = {**env, "LITELLM_MASTER_KEY": "sk-bench-" + os.urandom(16).hex()}
    proc = start([*cmd, "--config", str(cfg), "--port", str(port)], lite_env)
    try:
        wait_up(f"http://127.0.0.1:{port}/health/liveliness", proc)
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=lite_env["LITELLM_MASTER_KEY"], max_retries=0)
        msg: list[Any] = [{"role": "user", "content": "hello"}]
        for _ in range(5):
            c.chat.completions.create(model="m", messages=msg)  # type: ignore[arg-type]
        return [timed(lambda: c.chat.completions.create(model="m", messages=msg)) for _ in range(n)]  # type: ignore[arg-type]
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="sequential requests per latency row")
    ap.add_argument("--turns", type=int, default=150, help="length of the long session")
    ap.add_argument("--concurrency", default="8,32,128")
    ap.add_argument("--soak", type=int, default=1000, help="turns between the two RSS readings")
    args = ap.parse_args()
    llm_port, app_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = platform_env(tmp, llm_port, MAX_CONVERSATION_HISTORY=os.environ.get("MAX_CONVERSATION_HISTORY", "50"))
        llm, app = start_platform(env, llm_port, app_port)
        rows: list[tuple[str, str, str]] = []
        try:
            direct = openai.OpenAI(base_url=f"http://127.0.0.1:{llm_port}/v1", api_key="x", max_retries=0)
            base = f"http://127.0.0.1:{app_port}"
            token = httpx.post(base + "/api/auth/login", json={"username": "admin", "password": "administrator"})
            token_s = token.json()["access_token"]
            client = openai.OpenAI(base_url=base + "/v1", api_key=token_s, max_retries=0)
            msg: list[Any] = [{"role": "user", "content": "hello"}]
            for i in range(5):
                direct.chat.completions.create(model="m", messages=msg)  # type: ignore[arg-type]
                client.chat.completions.create(model="chat", messages=msg, extra_body={"session_id": f"w{i}"})  # type: ignore[arg-type]
            d = [timed(lambda: direct.chat.completions.create(model="m", messages=msg)) for _ in range(args.n)]  # type: ignore[arg-type]
            f = [
                timed(
                    lambda i=i: client.chat.completions.create(
                        model="chat", messages=msg, extra_body={"session_id": f"f{i}"}
                    )
                )  # type: ignore[arg-type,misc]
                for i in range(args.n)
            ]
            rows.append(
                (
                    "added p50/p95, fresh session (target ≤ 5 ms p50)",
                    f"{pct(f, 0.5) - pct(d, 0.5):.1f} / {pct(f, 0.95) - pct(d, 0.95):.1f} ms",
                    f"direct p50 {pct(d, 0.5):.1f} ms",
                )
            )
            # One long session: only the new message each turn; the backend sees the whole history.
            history: list[Any] = []
            plat: list[float] = []
            dirs: list[float] = []
            for t in range(args.turns):
                content = f"turn {t}"
                history.append({"role": "user", "content": content})
                dirs.append(
                    timed(
                        lambda: direct.chat.completions.create(
                            model="m", messages=history[-int(env["MAX_CONVERSATION_HISTORY"]) :]
                        )
                    )
                )  # type: ignore[arg-type]
                plat.append(
                    timed(
                        lambda content=content: client.chat.completions.create(
                            model="chat",
                            messages=[{"role": "user", "content": content}],
                            extra_body={"session_id": "long"},
                        )
                    )
                )  # type: ignore[arg-type,misc]
                history.append({"role": "assistant", "content": f"echo: {content}"})
            early = [p - q for p, q in zip(plat[5:15], dirs[5:15], strict=True)]
            late = [p - q for p, q in zip(plat[-10:], dirs[-10:], strict=True)]
            rows.append(
                (
                    f"added p50, turns 6–15 vs {args.turns - 9}–{args.turns} of one session (target ≤ 10 ms)",
                    f"{statistics.median(early):.1f} / {statistics.median(late):.1f} ms",
                    f"platform turn p50 {statistics.median(plat[5:15]):.1f} → {statistics.median(plat[-10:]):.1f} ms "
                    f"({statistics.median(plat[-10:]) / statistics.median(plat[5:15]):.2f}×, target ≤ 1.5×)",
                )
            )
            dt = [ttft(direct, model="m", messages=msg) for _ in range(20)]
            pt = [ttft(client, model="chat", messages=msg, extra_body={"session_id": f"tt{i}"}) for i in range(20)]
            rows.append(("time to first token added, p50", f"{pct(pt, 0.5) - pct(dt, 0.5):.1f} ms", ""))
            for c in [int(x) for x in args.concurrency.split(",") if x]:
                for mode in ("chat", "stream"):
                    tps, errs = asyncio.run(throughput(base + "/v1/chat/completions", token_s, c, 3, mode))
                    rows.append((f"turns/s, {c} sessions × 3 turns at once, {mode}", f"{tps:.1f}", f"{errs} errors"))
            db = Path(tmp) / "checkpoints.db"
            size0 = db.stat().st_size + (
                Path(str(db) + "-wal").stat().st_size if Path(str(db) + "-wal").exists() else 0
            )
            with sqlite3.connect(db) as conn:
                blobs = conn.execute(
                    "select count(*), sum(length(checkpoint)) from checkpoints where thread_id like '%:long'"
                ).fetchone()
                writes = conn.execute("select sum(length(value)) from writes where thread_id like '%:long'").fetchone()
            rows.append(
                (
                    "checkpoint bytes per turn (long session)",
                    f"{((blobs[1] or 0) + (writes[0] or 0)) / args.turns:,.0f}",
                    f"{blobs[0]} checkpoints, db {size0 / 1e6:.1f} MB",
                )
            )
            before = rss_mb(app.pid)
            asyncio.run(throughput(base + "/v1/chat/completions", token_s, 16, max(1, args.soak // 16), "chat"))
            rows.append(
                (f"main app RSS before/after {args.soak} more turns", f"{before:.0f} / {rss_mb(app.pid):.0f} MB", "")
            )
            lite = litellm_row(llm_port, env, args.n)
            if lite is not None:
                rows.append(
                    (
                        "LiteLLM proxy added p50/p95 (same backend, same run)",
                        f"{pct(lite, 0.5) - pct(d, 0.5):.1f} / {pct(lite, 0.95) - pct(d, 0.95):.1f} ms",
                        "",
                    )
                )
            else:
                rows.append(("LiteLLM proxy", "not installed", "make bench-peers adds this row"))
        finally:
            for p in (app, llm):
                p.terminate()
                p.wait(10)
    width = max(len(r[0]) for r in rows)
    print(f"{'gateway (scripted backend, this machine)':{width}}  {'value':>22}  note")
    for name, value, note in rows:
        print(f"{name:{width}}  {value:>22}  {note}")


if __name__ == "__main__":
    main()
