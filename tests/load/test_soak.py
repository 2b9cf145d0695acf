"""Soak: 32 sessions x 5 turns at once through all five agents, real tools app, scripted
backend, no client retries. Every answer is checked, and every stored history is compared
with what was sent: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.integration.conftest import serve_platform
from tests.scripted_llm import ScriptedLLM

AGENTS = ["chat", "react", "plan_execute", "ultrawork", "auto"]
SESSIONS, TURNS = 32, 5


def test_32_sessions_5_turns_through_every_agent(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(
        data_dir, llm_server, with_tools=True, ultrawork_max_iterations=1, plan_max_steps=1, react_max_iterations=2
    ) as p:
        url = p.v1 + "/chat/completions"
        tokens = [p.signup(f"soak{i}") for i in range(4)]  # several users, sessions spread over them
        failures: list[str] = []

        async def session(client: httpx.AsyncClient, i: int) -> None:
            agent, token = AGENTS[i % len(AGENTS)], tokens[i % len(tokens)]
            headers = {"Authorization": f"Bearer {token}"}
            history: list[dict[str, str]] = []
            for t in range(TURNS):
                history.append({"role": "user", "content": f"s{i} turn {t}"})
                body = {"model": agent, "session_id": f"soak-{i}", "messages": history, "stream": t % 2 == 1}
                if body["stream"]:
                    answer, error = "", None
                    async with client.stream("POST", url, json=body, headers=headers) as resp:
                        async for line in resp.aiter_lines():
                            if line.startswith("data: {"):
                                chunk = json.loads(line[6:])
                                error = error or chunk.get("error")
                                for c in chunk.get("choices", []):
                                    answer += c["delta"].get("content") or ""
                    if resp.status_code != 200 or error or not answer:
                        failures.append(f"{agent} s{i} t{t}: {resp.status_code} {error}")
                        return
                else:
                    resp = await client.post(url, json=body, headers=headers)
                    if resp.status_code != 200:
                        failures.append(f"{agent} s{i} t{t}: {resp.status_code} {resp.text[:200]}")
                        return
                    answer = resp.json()["choices"][0]["message"]["content"]
                history.append({"role": "assistant", "content": answer})
            stored = (await client.get(f"{p.url}/api/chat/history/soak-{i}", headers=headers)).json()["messages"]
            users = [m["content"] for m in stored if m["role"] == "user"]
            if users != [f"s{i} turn {t}" for t in range(TURNS)]:
                failures.append(f"{agent} s{i}: stored user turns {users}")
            answers = [m["content"] for m in stored if m["role"] == "assistant" and not m.get("tool_calls")]
            if answers != [m["content"] for m in history if m["role"] == "assistant"]:
                failures.append(f"{agent} s{i}: stored answers differ from those returned")

        async def run() -> None:
            async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=64)) as client:
                await asyncio.gather(*(session(client, i) for i in range(SESSIONS)))

        asyncio.run(run())
        assert failures == []
