"""A turn is stored whole or not at all; a retried request never stores it twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import Reply, ScriptedLLM

BOTH_STORES = True  # every test with `store` runs on SQLite and on PostgreSQL


def _history(p: Platform, sid: str) -> list[tuple[str, str]]:
    resp = httpx.get(f"{p.url}/api/chat/history/{sid}", headers=p.headers())
    if resp.status_code == 404:
        return []
    return [(m["role"], m["content"]) for m in resp.json()["messages"]]


def _sdk(p: Platform) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.v1, api_key=p.token, max_retries=0)


def test_a_retry_with_the_same_idempotency_key_gets_the_stored_answer(platform: Platform) -> None:
    p = platform
    client = _sdk(p)
    key = {"Idempotency-Key": "turn-1"}
    msgs = [{"role": "user", "content": "only once"}]
    first = client.chat.completions.create(
        model="chat",
        messages=msgs,
        extra_body={"session_id": "k1"},
        extra_headers=key,  # type: ignore[arg-type]
    )
    again = client.chat.completions.create(
        model="chat",
        messages=msgs,
        extra_body={"session_id": "k1"},
        extra_headers=key,  # type: ignore[arg-type]
    )
    assert again.id == first.id and again.choices[0].message.content == first.choices[0].message.content
    assert len(p.llm.requests) == 1  # the model was called once
    assert _history(p, "k1") == [("user", "only once"), ("assistant", "echo: only once")]
    # Streaming retries replay the same answer in chunks.
    stream = client.chat.completions.create(
        model="chat",
        messages=msgs,
        stream=True,
        extra_body={"session_id": "k1"},
        extra_headers=key,  # type: ignore[arg-type]
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: only once"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(p.llm.requests) == 1
    # Keys belong to their user: another user's same key is a new turn of their own.
    other = p.signup("keyholder")
    reply = openai.OpenAI(base_url=p.v1, api_key=other, max_retries=0).chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "mine"}],
        extra_headers=key,  # type: ignore[arg-type]
    )
    assert reply.choices[0].message.content == "echo: mine"


@pytest.mark.parametrize("stream", [False, True])
def test_a_replayed_answer_keeps_its_finish_reason(platform: Platform, stream: bool) -> None:
    """An answer cut by max_tokens says "length"; its idempotent retry must say so too, or the
    client takes a truncated answer for a whole one."""
    client = _sdk(platform)
    key = {"Idempotency-Key": "cut-1"}
    msgs = [{"role": "user", "content": "count to ten please"}]
    first = client.chat.completions.create(
        model="chat",
        messages=msgs,
        max_tokens=2,
        extra_body={"session_id": "cut"},
        extra_headers=key,  # type: ignore[arg-type]
    )
    assert first.choices[0].finish_reason == "length"
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="chat",
                messages=msgs,
                max_tokens=2,
                stream=True,
                extra_body={"session_id": "cut"},
                extra_headers=key,  # type: ignore[arg-type]
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert (text, finish) == (first.choices[0].message.content, ["length"])
    else:
        again = client.chat.completions.create(
            model="chat",
            messages=msgs,
            max_tokens=2,
            extra_body={"session_id": "cut"},
            extra_headers=key,  # type: ignore[arg-type]
        )
        assert (again.choices[0].message.content, again.choices[0].finish_reason) == (
            first.choices[0].message.content,
            "length",
        )
    assert len(platform.llm.requests) == 1


def test_a_failed_turn_releases_its_key_and_stores_nothing(platform: Platform) -> None:
    p = platform
    p.llm.push(Reply(status=500), Reply(status=500))  # the SDK inside the app retries once
    headers = {**p.headers(), "Idempotency-Key": "retry-me"}
    body = {"model": "chat", "session_id": "k2", "messages": [{"role": "user", "content": "try"}]}
    failed = httpx.post(p.v1 + "/chat/completions", json=body, headers=headers, timeout=60)
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "backend_error"
    assert _history(p, "k2") == []
    ok = httpx.post(p.v1 + "/chat/completions", json=body, headers=headers, timeout=60)
    assert ok.status_code == 200, ok.text
    assert _history(p, "k2") == [("user", "try"), ("assistant", "echo: try")]


def test_a_duplicate_sent_while_the_first_runs_is_refused_not_run(
    data_dir: Path, llm_server: ScriptedLLM, store: dict[str, object]
) -> None:
    llm_server.hold_until(2)  # the first turn waits at the model until a second request arrives
    with serve_platform(data_dir, llm_server, **store) as p:
        headers = {**p.headers(), "Idempotency-Key": "dup"}
        body = {"model": "chat", "session_id": "k3", "messages": [{"role": "user", "content": "once"}]}
        other = {"model": "chat", "session_id": "k4", "messages": [{"role": "user", "content": "release"}]}

        async def run() -> tuple[httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(timeout=120) as client:
                first = asyncio.ensure_future(client.post(p.v1 + "/chat/completions", json=body, headers=headers))
                # The scripted server runs in another thread: poll until the first turn is at the model.
                while not llm_server.requests:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                dup = await client.post(p.v1 + "/chat/completions", json=body, headers=headers)
                await client.post(p.v1 + "/chat/completions", json=other, headers=p.headers())  # opens the gate
                return await first, dup

        first, dup = asyncio.run(run())
        assert first.status_code == 200
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "idempotency_key_in_use"
        assert _history(p, "k3") == [("user", "once"), ("assistant", "echo: once")]


@pytest.mark.parametrize("stream", [False, True])
def test_a_backend_stream_cut_mid_answer_is_an_error_and_nothing_is_stored(platform: Platform, stream: bool) -> None:
    p = platform
    client = _sdk(p)
    client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "first"}], extra_body={"session_id": "c"}
    )
    p.llm.push(Reply(content="ECHO of a long answer that never ends", cut_after=3))
    p.llm.push(Reply(content="ECHO of a long answer that never ends", cut_after=3))  # the app's own retry
    body = {"model": "chat", "session_id": "c", "stream": stream, "messages": [{"role": "user", "content": "second"}]}
    resp = httpx.post(p.v1 + "/chat/completions", json=body, headers=p.headers(), timeout=60)
    if stream and resp.status_code == 200:
        events = [json.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: {")]
        assert "error" in events[-1] and events[-1]["error"]["code"] == "backend_incomplete"
        assert all(c["choices"][0].get("finish_reason") is None for c in events[:-1] if c.get("choices"))
    else:
        assert resp.status_code == 502 and resp.json()["error"]["code"] == "backend_incomplete"
    assert _history(p, "c") == [("user", "first"), ("assistant", "echo: first")]
