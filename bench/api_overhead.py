"""Added latency of the platform over calling the same scripted backend directly.

Three processes, as deployed: the scripted OpenAI-compatible backend, the main app
(`uvicorn app.main:create_app`, SQLite databases, `chat` agent) and this client. Runs N
sequential chat completions with the `openai` SDK straight at the backend, then through
the platform (a new session per request; one growing session; streaming), and prints
p50/p95.

    .venv/bin/python bench/api_overhead.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import free_port  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url} exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(url)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    msg = [{"role": "user", "content": "hello"}]
    llm_port, app_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATA_DIR": tmp,
            "LLM_BACKEND": "openai",
            "OPENAI_API_KEY": "x",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
            "DEFAULT_AGENT": "chat",
            "LOG_LEVEL": "WARNING",
            "TOOLS_URL": "http://127.0.0.1:9",
        }
        try:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.scripted_llm", "--port", str(llm_port)], cwd=ROOT, env=env
                )
            )
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "app.main:create_app",
                        "--port",
                        str(app_port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env=env,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_up(f"http://127.0.0.1:{llm_port}/v1/models", procs[0])
            wait_up(f"http://127.0.0.1:{app_port}/health", procs[1])
            direct = openai.OpenAI(base_url=f"http://127.0.0.1:{llm_port}/v1", api_key="x", max_retries=0)
            for _ in range(5):
                direct.chat.completions.create(model="m", messages=msg)  # type: ignore[arg-type]
            d = timed(lambda i: direct.chat.completions.create(model="m", messages=msg), n)  # type: ignore[arg-type]
            url = f"http://127.0.0.1:{app_port}"
            token = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"})
            client = openai.OpenAI(base_url=url + "/v1", api_key=token.json()["access_token"], max_retries=0)
            for i in range(5):
                client.chat.completions.create(
                    model="chat",
                    messages=msg,  # type: ignore[arg-type]
                    extra_body={"session_id": f"warm-{i}"},
                )
            fresh = timed(
                lambda i: client.chat.completions.create(
                    model="chat", messages=msg, extra_body={"session_id": f"bench-{i}"}
                ),
                n,
            )  # type: ignore[arg-type]
            cont = timed(
                lambda i: client.chat.completions.create(
                    model="chat",
                    messages=[{"role": "user", "content": f"turn {i}"}],
                    extra_body={"session_id": "bench-long"},
                ),
                n,
            )

            def streamed(i: int) -> None:
                for _ in client.chat.completions.create(
                    model="chat",
                    messages=msg,
                    stream=True,  # type: ignore[arg-type]
                    extra_body={"session_id": f"bench-s-{i}"},
                ):
                    pass

            stream = timed(streamed, n)
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    rows = [
        ("direct to the scripted backend", d),
        ("platform, new session each", fresh),
        ("platform, one growing session", cont),
        ("platform, streaming, new session", stream),
    ]
    print(f"{'path':36} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}   (n={n} sequential)")
    for name, vals in rows:
        print(f"{name:36} {pct(vals, 0.5):8.1f} {pct(vals, 0.95):8.1f} {statistics.mean(vals):8.1f}")
    print(
        f"added by the platform (new session): p50 {pct(fresh, 0.5) - pct(d, 0.5):.1f} ms, "
        f"p95 {pct(fresh, 0.95) - pct(d, 0.95):.1f} ms"
    )


if __name__ == "__main__":
    main()
