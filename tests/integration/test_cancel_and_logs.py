"""A client that goes away cancels its run; the session stays consistent. And the logs
carry a request id and one line per LLM call."""

from __future__ import annotations

import json
import time

import httpx

from tests.integration.conftest import Platform
from tests.scripted_llm import Reply


def _stored_users(p: Platform, sid: str) -> list[str]:
    r = httpx.post(
        p.v1 + "/chat/completions",
        headers=p.headers(),
        timeout=30,
        json={"model": "chat", "session_id": sid, "messages": [{"role": "user", "content": "probe"}]},
    )
    assert r.status_code == 200, r.text
    return [m["content"] for m in p.llm.requests[-1]["messages"] if m["role"] == "user"]


def test_disconnect_mid_stream_cancels_and_rolls_back(platform: Platform) -> None:
    sid = "disconnect"
    platform.llm.push(Reply(content="too late", delay=3.0))
    with httpx.stream(
        "POST",
        platform.v1 + "/chat/completions",
        headers=platform.headers(),
        timeout=30,
        json={
            "model": "chat",
            "stream": True,
            "session_id": sid,
            "messages": [{"role": "user", "content": "slow question"}],
        },
    ) as resp:
        assert resp.status_code == 200
        first = next(resp.iter_lines())
        assert first.startswith("data: ")
    # The client is gone. Had the run gone on, the slow answer would land in the session.
    time.sleep(3.5)
    assert _stored_users(platform, sid) == ["probe"]
    assistants = [m["content"] for m in platform.llm.requests[-1]["messages"] if m["role"] == "assistant"]
    assert "too late" not in assistants


def test_log_lines_carry_request_id_and_llm_calls(platform: Platform) -> None:
    platform.llm.push("logged answer")
    resp = httpx.post(
        platform.v1 + "/chat/completions",
        headers={**platform.headers(), "X-Request-Id": "req-abc123"},
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == "req-abc123"
    log_file = platform.settings.data_dir / "logs" / "main.log"
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    calls = [entry for entry in lines if entry["msg"] == "llm call" and entry["request_id"] == "req-abc123"]
    assert len(calls) == 1
    call = calls[0]
    assert call["backend"] == "openai"
    assert call["model"] == "scripted-model"
    assert call["latency_ms"] >= 0
    assert call["total_tokens"] > 0


def test_disconnect_during_a_non_streaming_request_cancels_it(platform: Platform) -> None:
    sid = "disconnect-json"
    platform.llm.push(Reply(content="too late", delay=3.0))
    try:
        httpx.post(
            platform.v1 + "/chat/completions",
            headers=platform.headers(),
            timeout=0.8,
            json={"model": "chat", "session_id": sid, "messages": [{"role": "user", "content": "slow"}]},
        )
    except httpx.ReadTimeout:
        pass
    else:
        raise AssertionError("the scripted reply takes 3 s: the client should have given up")
    time.sleep(3.5)
    assert _stored_users(platform, sid) == ["probe"]
