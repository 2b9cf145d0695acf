"""Bad input and failing backends: a clear status with the OpenAI error envelope, and no
half-written turn left in the session."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import Platform
from tests.scripted_llm import Reply


def post(
    p: Platform,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = "default",
) -> httpx.Response:
    h = {} if token is None else p.headers(None if token == "default" else token)
    h.update(headers or {})
    if content is not None:
        h.setdefault("content-type", "application/json")
        return httpx.post(p.v1 + "/chat/completions", content=content, headers=h, timeout=30)
    return httpx.post(p.v1 + "/chat/completions", json=body, headers=h, timeout=30)


def assert_envelope(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"] and "Traceback" not in err["message"]
    return dict(err)


def history(p: Platform, sid: str) -> list[dict[str, Any]]:
    """What the session holds, seen through the model: echo the stored history back."""
    resp = post(p, {"model": "chat", "session_id": sid, "messages": [{"role": "user", "content": "probe"}]})
    assert resp.status_code == 200
    return [m for m in p.llm.requests[-1]["messages"] if m["role"] != "system"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat"}, "messages"),
        ({"model": "chat", "messages": []}, "messages"),
        ({"model": "chat", "messages": "hello"}, "messages"),
        ({"model": "chat", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"model": "chat", "messages": [{"content": "hi"}]}, "messages.0.role"),
        ({"model": "chat", "temperature": 5, "messages": [{"role": "user", "content": "hi"}]}, "temperature"),
        ({"model": "chat", "session_id": "../../etc", "messages": [{"role": "user", "content": "hi"}]}, "session_id"),
    ],
)
def test_bad_bodies_are_400_with_envelope(platform: Platform, body: dict[str, Any], param: str) -> None:
    err = assert_envelope(post(platform, body), 400)
    assert err["param"] == param
    assert err["type"] == "invalid_request_error"
    assert platform.llm.requests == [], "the model is never called for a bad request"


def test_malformed_json_is_400(platform: Platform) -> None:
    err = assert_envelope(post(platform, content=b'{"model": "chat", "messages": [}'), 400)
    assert "JSON" in err["message"]


def test_body_that_is_not_utf8_is_400(platform: Platform) -> None:
    err = assert_envelope(post(platform, content=b'{"model": "chat", "messages": "\xff"}'), 400)
    assert "JSON" in err["message"]


@pytest.mark.parametrize("header", ["X-Session-Id", "X-OpenWebUI-Chat-Id"])
def test_overlong_session_id_header_is_400(platform: Platform, header: str) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    resp = post(platform, body, headers={header: "a" * 129})
    err = assert_envelope(resp, 400)
    assert err["param"] == "session_id"
    assert platform.llm.requests == []


def test_deeply_nested_json_is_400(platform: Platform) -> None:
    err = assert_envelope(post(platform, content=b'{"model": "chat", "messages": ' + b"[" * 100_000), 400)
    assert "JSON" in err["message"]


def test_unknown_agent_is_404_and_names_the_choices(platform: Platform) -> None:
    err = assert_envelope(post(platform, {"agent_type": "nope", "messages": [{"role": "user", "content": "x"}]}), 404)
    assert err["code"] == "model_not_found" and err["param"] == "agent_type"
    assert "chat" in err["message"]
    assert platform.llm.requests == []


@pytest.mark.parametrize("token", [None, "not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_missing_or_bad_token_is_401(platform: Platform, token: str | None) -> None:
    resp = post(platform, {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}, token=token)
    err = assert_envelope(resp, 401)
    assert err["type"] == "authentication_error"
    models = httpx.get(platform.v1 + "/models", headers={} if token is None else {"Authorization": f"Bearer {token}"})
    assert_envelope(models, 401)


def test_backend_error_is_502_and_leaves_no_half_turn(platform: Platform) -> None:
    sid = "fail-502"
    first = post(platform, {"model": "chat", "session_id": sid, "messages": [{"role": "user", "content": "one"}]})
    assert first.status_code == 200
    platform.llm.push(Reply(status=500), Reply(status=500))  # the client retries once
    err = assert_envelope(
        post(platform, {"model": "chat", "session_id": sid, "messages": [{"role": "user", "content": "lost"}]}), 502
    )
    assert err["type"] == "backend_error"
    seen = history(platform, sid)
    assert [m["content"] for m in seen] == ["one", "echo: one", "probe"], "the failed turn was rolled back"


def test_backend_error_while_streaming_is_clean(platform: Platform) -> None:
    platform.llm.push(Reply(status=500), Reply(status=500))
    resp = post(
        platform,
        {"model": "chat", "stream": True, "session_id": "s-fail", "messages": [{"role": "user", "content": "x"}]},
    )
    err = assert_envelope(resp, 502)
    assert err["code"] == "backend_error"
    assert [m["content"] for m in history(platform, "s-fail")] == ["probe"]


def test_backend_down_is_503_both_modes(data_dir: Any) -> None:
    from app.main import create_app
    from tests.conftest import make_settings
    from tests.servers import free_port, serve_app

    dead = f"http://127.0.0.1:{free_port()}/v1"
    settings = make_settings(data_dir, llm_backend="openai", openai_base_url=dead, default_agent="chat")
    with serve_app(create_app(settings)) as url:
        token = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        for stream in (False, True):
            resp = httpx.post(
                url + "/v1/chat/completions",
                headers=headers,
                timeout=30,
                json={
                    "model": "chat",
                    "stream": stream,
                    "session_id": "down",
                    "messages": [{"role": "user", "content": "x"}],
                },
            )
            err = assert_envelope(resp, 503)
            assert err["type"] == "backend_unavailable"
        health = httpx.get(url + "/health").json()
        assert health["backend"]["reachable"] is False
