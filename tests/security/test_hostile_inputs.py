"""Hostile inputs to /v1/chat/completions (issue 11, fuzzing): each gets a 2xx or a 4xx
with the OpenAI error envelope, never a 500, and the server keeps serving."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.integration.conftest import Platform


def _post(p: Platform, content: bytes, content_type: str = "application/json") -> httpx.Response:
    headers = {**p.headers(), "Content-Type": content_type}
    return httpx.post(p.v1 + "/chat/completions", content=content, headers=headers, timeout=120)


def _envelope_or_answer(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code < 500, resp.text[:500]
    body: dict[str, Any] = resp.json()
    if resp.status_code >= 400:
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
    else:
        assert body["object"] == "chat.completion", body
    return body


def _chat(messages: list[dict[str, Any]]) -> bytes:
    return json.dumps({"model": "chat", "messages": messages}).encode()


def test_malformed_bodies_are_4xx(platform: Platform) -> None:
    deep = b'{"model": "chat", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    cases = {
        "deeply nested JSON": (deep, "application/json"),
        "deeply nested objects": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
        "invalid UTF-8": (
            b'{"model": "chat", "messages": [{"role": "user", "content": "\xff\xfe\xfa"}]}',
            "application/json",
        ),
        "not JSON": (b"model=chat&messages=hello", "application/json"),
        "form-encoded": (b"model=chat&messages=hello", "application/x-www-form-urlencoded"),
        "plain text": (b"hello", "text/plain"),
        "xml": (b"<messages><m>hi</m></messages>", "application/xml"),
        "empty": (b"", "application/json"),
        "JSON array": (b"[1, 2, 3]", "application/json"),
        "JSON null": (b"null", "application/json"),
        "wrong types": (_chat([{"role": 5, "content": {"x": []}}]), "application/json"),
        "unknown role": (_chat([{"role": "overlord", "content": "hi"}]), "application/json"),
        "no messages": (_chat([]), "application/json"),
        "broken multipart": (b"--x\r\nContent-Disposition: form-data\r\n\r\n", "multipart/form-data; boundary=x"),
        "multipart without boundary": (b"abc", "multipart/form-data"),
    }
    statuses = {}
    for name, (content, content_type) in cases.items():
        resp = _post(platform, content, content_type)
        assert resp.status_code < 500, f"{name}: {resp.status_code} {resp.text[:300]}"
        statuses[name] = resp.status_code
        if resp.status_code >= 400:
            _envelope_or_answer(resp)
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    ok = _post(platform, _chat([{"role": "user", "content": "still here?"}]))
    assert ok.status_code == 200, ok.text


def test_a_lone_surrogate_is_a_400_and_a_surrogate_pair_is_fine(platform: Platform) -> None:
    content = b'{"model": "chat", "messages": [{"role": "user", "content": "\\ud800"}]}'
    resp = _post(platform, content)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"
    pair = b'{"model": "chat", "messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'
    assert _post(platform, pair).status_code == 200


def test_a_10000_message_history(platform: Platform) -> None:
    platform.llm.push("ok")  # a short reply: the input is what is under test
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"} for i in range(10_000)]
    history[-1] = {"role": "user", "content": "the last one"}
    _envelope_or_answer(_post(platform, _chat(history)))


def test_a_1mb_message(platform: Platform) -> None:
    platform.llm.push("ok")
    body = _envelope_or_answer(_post(platform, _chat([{"role": "user", "content": "word " * 200_000}])))
    assert "choices" in body or "error" in body


def test_image_and_parts_content(platform: Platform) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    variants: list[Any] = [
        [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        ],
        [{"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/meta-data"}}],
        [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}],
        [{"type": "text"}],
        [{"no_type": True}],
        [],
        [{"type": "text", "text": "a"}] * 5000,
    ]
    for content in variants:
        _envelope_or_answer(_post(platform, _chat([{"role": "user", "content": content}])))
    streamed = httpx.post(
        platform.v1 + "/chat/completions",
        json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": variants[0]}]},
        headers=platform.headers(),
        timeout=120,
    )
    assert streamed.status_code < 500
