"""Sessions belong to their creator: listing, history, rename, delete, cancel, over real HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.integration.conftest import Platform
from tests.scripted_llm import Reply, tool_call

BOTH_STORES = True  # every test with `store` runs on SQLite and on PostgreSQL


def chat(p: Platform, token: str, text: str, session_id: str | None = None, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    if session_id:
        body["session_id"] = session_id
    return httpx.post(p.v1 + "/chat/completions", headers=p.headers(token), json=body, timeout=60)


def api(p: Platform, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, p.url + "/api/chat" + path, headers=p.headers(token), timeout=30, **kwargs)


def test_two_users_and_an_admin_through_the_whole_flow(platform: Platform) -> None:
    alice, bob = platform.signup("alice"), platform.signup("bob")
    platform.llm.push("Hello Alice.", "Noted, Alice.")
    assert chat(platform, alice, "Hi, I am Alice and my secret is 42", "alice-only").status_code == 200
    history = [
        {"role": "user", "content": "Hi, I am Alice and my secret is 42"},
        {"role": "assistant", "content": "Hello Alice."},
        {"role": "user", "content": "Remember it."},
    ]
    resp = httpx.post(
        platform.v1 + "/chat/completions",
        headers=platform.headers(alice),
        json={"model": "chat", "messages": history, "session_id": "alice-only"},
    )
    assert resp.json()["choices"][0]["message"]["content"] == "Noted, Alice."

    # Bob: every way of reaching Alice's session id finds nothing of hers.
    for method, path, body in (
        ("GET", "/history/alice-only", None),
        ("GET", "/sessions/alice-only", None),
        ("PATCH", "/sessions/alice-only", {"title": "mine now"}),
        ("DELETE", "/sessions/alice-only", None),
        ("POST", "/sessions/alice-only/cancel", None),
    ):
        denied = api(platform, method, path, bob, json=body)
        assert denied.status_code == 404, (method, path, denied.text)
        assert denied.json()["error"]["code"] == "session_not_found"
    assert api(platform, "GET", "/sessions", bob).json()["data"] == []

    # Writing through /v1/chat/completions with her id opens Bob's own, empty session:
    # the model sees none of Alice's messages and hers is untouched.
    assert chat(platform, bob, "what was the secret?", "alice-only").status_code == 200
    assert platform.llm.user_messages(-1) == ["what was the secret?"]
    bobs = api(platform, "GET", "/history/alice-only", bob).json()["messages"]
    assert [m["content"] for m in bobs] == ["what was the secret?", "echo: what was the secret?"]
    hers = api(platform, "GET", "/history/alice-only", alice).json()
    assert [m["role"] for m in hers["messages"]] == ["user", "assistant", "user", "assistant"]
    assert hers["messages"][0]["content"] == "Hi, I am Alice and my secret is 42"
    assert hers["title"] == "Hi, I am Alice and my secret is 42"

    listed = api(platform, "GET", "/sessions", alice).json()
    assert [s["id"] for s in listed["data"]] == ["alice-only"]
    assert listed["data"][0]["message_count"] == 4 and listed["data"][0]["agent"] == "chat"

    # The admin has no sessions of their own and cannot read Alice's by id either.
    assert api(platform, "GET", "/history/alice-only", platform.token).status_code == 404
    assert api(platform, "GET", "/sessions", platform.token).json()["total"] == 0

    # Alice renames and deletes; then her id is free again.
    renamed = api(platform, "PATCH", "/sessions/alice-only", alice, json={"title": "  Secret   chat "})
    assert renamed.json()["title"] == "Secret chat"
    assert api(platform, "PATCH", "/sessions/alice-only", alice, json={"title": ""}).status_code == 422
    assert api(platform, "DELETE", "/sessions/alice-only", alice).json()["deleted"] is True
    assert api(platform, "GET", "/history/alice-only", alice).status_code == 404
    assert api(platform, "DELETE", "/sessions/alice-only", alice).status_code == 404
    # Bob's session of the same id survived Alice's delete.
    assert len(api(platform, "GET", "/history/alice-only", bob).json()["messages"]) == 2
    # Re-using the id starts from an empty checkpoint: the deleted turns are gone.
    chat(platform, alice, "fresh start", "alice-only")
    assert platform.llm.user_messages(-1) == ["fresh start"]


def test_listing_pages_newest_first(platform: Platform) -> None:
    token = platform.signup("paula")
    for name in ("s1", "s2", "s3"):
        chat(platform, token, f"message for {name}", name).raise_for_status()
    first = api(platform, "GET", "/sessions?limit=2", token).json()
    assert [s["id"] for s in first["data"]] == ["s3", "s2"]
    assert first["total"] == 3 and first["has_more"] is True
    rest = api(platform, "GET", "/sessions?limit=2&offset=2", token).json()
    assert [s["id"] for s in rest["data"]] == ["s1"] and rest["has_more"] is False
    assert api(platform, "GET", "/sessions?limit=0", token).status_code == 422


def test_unsafe_session_ids_are_not_found(platform: Platform) -> None:
    token = platform.signup("quinn")
    for sid in ("..", ".hidden", "a%2F..%2Fb"):
        assert api(platform, "GET", f"/history/{sid}", token).status_code == 404


def _wait_running(p: Platform, token: str, sid: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        resp = api(p, "GET", f"/sessions/{sid}", token)
        if resp.status_code == 200 and resp.json()["running"]:
            return
        time.sleep(0.05)
    raise AssertionError("the run never started")


def _slow_request(p: Platform, token: str, sid: str, out: dict[str, httpx.Response]) -> threading.Thread:
    p.llm.push(Reply(content="too late", delay=3.0))
    thread = threading.Thread(target=lambda: out.update(resp=chat(p, token, "take your time", sid)))
    thread.start()
    _wait_running(p, token, sid)
    return thread


def test_owner_cancels_a_running_request_and_it_is_rolled_back(platform: Platform) -> None:
    alice, bob = platform.signup("alice"), platform.signup("bob")
    chat(platform, alice, "first turn", "long").raise_for_status()
    out: dict[str, httpx.Response] = {}
    started = time.monotonic()
    thread = _slow_request(platform, alice, "long", out)

    assert api(platform, "POST", "/sessions/long/cancel", bob).status_code == 404
    # A non-admin naming the owner explicitly is still a 404.
    alice_id = httpx.get(platform.url + "/api/auth/me", headers=platform.headers(alice)).json()["id"]
    assert api(platform, "POST", f"/sessions/long/cancel?user_id={alice_id}", bob).status_code == 404

    assert api(platform, "POST", "/sessions/long/cancel", alice).json()["cancelled"] is True
    thread.join(10)
    assert time.monotonic() - started < 3.0, "the cancel did not stop the run before the model answered"
    assert out["resp"].status_code == 409
    assert out["resp"].json()["error"]["code"] == "cancelled"
    messages = api(platform, "GET", "/history/long", alice).json()["messages"]
    assert [m["content"] for m in messages] == ["first turn", "echo: first turn"]
    assert api(platform, "POST", "/sessions/long/cancel", alice).json()["cancelled"] is False


def test_admin_cancels_another_users_request_by_naming_the_owner(platform: Platform) -> None:
    carol = platform.signup("carol")
    carol_id = httpx.get(platform.url + "/api/auth/me", headers=platform.headers(carol)).json()["id"]
    out: dict[str, httpx.Response] = {}
    thread = _slow_request(platform, carol, "work", out)
    assert api(platform, "POST", "/sessions/work/cancel", platform.token).status_code == 404
    resp = api(platform, "POST", f"/sessions/work/cancel?user_id={carol_id}", platform.token)
    assert resp.json()["cancelled"] is True
    thread.join(10)
    assert out["resp"].status_code == 409


def test_deleting_a_running_session_stops_it_first(platform: Platform) -> None:
    dan = platform.signup("dan")
    out: dict[str, httpx.Response] = {}
    thread = _slow_request(platform, dan, "doomed", out)
    assert api(platform, "DELETE", "/sessions/doomed", dan).json()["deleted"] is True
    thread.join(10)
    assert out["resp"].status_code == 409
    assert api(platform, "GET", "/history/doomed", dan).status_code == 404
    assert api(platform, "GET", "/sessions", dan).json()["total"] == 0


def test_history_shows_tool_calls_and_results(platform: Platform) -> None:
    """A react turn whose tool fails (no tools app here) is stored and read back in OpenAI form."""
    token = platform.signup("tess")
    platform.llm.push(
        Reply(tool_calls=[tool_call("websearch", {"query": "weather"}, "call_1")]), "I could not search, sorry."
    )
    chat(platform, token, "weather?", "tools", model="react").raise_for_status()
    messages = api(platform, "GET", "/history/tools", token).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    call = messages[1]["tool_calls"][0]
    assert call["id"] == "call_1" and call["function"]["name"] == "websearch"
    assert messages[2]["tool_call_id"] == "call_1" and messages[2]["content"]
    assert messages[3]["content"] == "I could not search, sorry."
