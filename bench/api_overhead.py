"""Added latency of the platform over calling the same scripted backend directly.

Runs N sequential chat completions with the `openai` SDK, once straight at a scripted
OpenAI-compatible server and once through LLM API (`chat` agent, fresh session per
request and a continued session, SQLite checkpointer), and prints p50/p95.

    .venv/bin/python bench/api_overhead.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.main import create_app
from tests.conftest import make_settings
from tests.scripted_llm import scripted_llm
from tests.servers import serve_app


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    msg = [{"role": "user", "content": "hello"}]
    with scripted_llm() as llm, tempfile.TemporaryDirectory() as tmp:
        direct = openai.OpenAI(base_url=llm.url, api_key="x", max_retries=0)
        direct.chat.completions.create(model="m", messages=msg)  # warm-up
        d = timed(lambda i: direct.chat.completions.create(model="m", messages=msg), n)
        settings = make_settings(Path(tmp), llm_backend="openai", openai_base_url=llm.url, default_agent="chat")
        with serve_app(create_app(settings)) as url:
            token = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"})
            client = openai.OpenAI(base_url=url + "/v1", api_key=token.json()["access_token"], max_retries=0)
            client.chat.completions.create(model="chat", messages=msg)  # warm-up
            fresh = timed(lambda i: client.chat.completions.create(
                model="chat", messages=msg, extra_body={"session_id": f"bench-{i}"}), n)
            cont = timed(lambda i: client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": f"turn {i}"}],
                extra_body={"session_id": "bench-long"}), n)

            def stream_first_token(i: int) -> None:
                s = client.chat.completions.create(model="chat", messages=msg, stream=True,
                                                   extra_body={"session_id": f"bench-s-{i}"})
                for _ in s:
                    pass

            streamed = timed(stream_first_token, n)
    rows = [("direct to scripted backend", d), ("platform, new session each", fresh),
            ("platform, one growing session", cont), ("platform, streaming, new session", streamed)]
    print(f"{'path':36} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}   (n={n} sequential)")
    for name, vals in rows:
        print(f"{name:36} {pct(vals, .5):8.1f} {pct(vals, .95):8.1f} {statistics.mean(vals):8.1f}")
    print(f"added latency (new session): p50 {pct(fresh, .5) - pct(d, .5):.1f} ms, "
          f"p95 {pct(fresh, .95) - pct(d, .95):.1f} ms")


if __name__ == "__main__":
    main()
