"""A run in one replica is cancelled, seen running, and deleted through another."""

from __future__ import annotations

import threading
import time

import httpx

from tests.integration.conftest import Platform
from tests.integration.test_sessions import api, chat
from tests.scripted_llm import Reply

BOTH_STORES = True  # every test with `store` runs on SQLite and on PostgreSQL

SLOW = 60.0  # the model's delay: had the cancel not worked, the answer would arrive after it


def _wait_running(p: Platform, token: str, sid: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        resp = api(p, "GET", f"/sessions/{sid}", token)
        if resp.status_code == 200 and resp.json()["running"]:
            return
        time.sleep(0.05)
    raise AssertionError("the run never showed as running on the other replica")


def _slow_run(a: Platform, token: str, sid: str) -> tuple[threading.Thread, dict[str, httpx.Response]]:
    out: dict[str, httpx.Response] = {}
    a.llm.push(Reply(content="too late", delay=SLOW))
    thread = threading.Thread(target=lambda: out.update(resp=chat(a, token, "take your time", sid)))
    thread.start()
    return thread, out


def test_cancel_sent_to_the_other_replica_stops_the_run(replicas: list[Platform]) -> None:
    a, b = replicas
    token = a.signup("alice")
    chat(a, token, "first turn", "s1").raise_for_status()
    thread, out = _slow_run(a, token, "s1")
    _wait_running(b, token, "s1")

    assert api(b, "POST", "/sessions/s1/cancel", token).json()["cancelled"] is True
    thread.join(SLOW / 2)
    assert not thread.is_alive(), "the run went on after the cancel"
    assert out["resp"].status_code == 409
    assert out["resp"].json()["error"]["code"] == "cancelled"
    # Rolled back: both replicas read the same two-message history, and nothing runs.
    for p in (a, b):
        messages = api(p, "GET", "/history/s1", token).json()["messages"]
        assert [m["content"] for m in messages] == ["first turn", "echo: first turn"]
        assert api(p, "GET", "/sessions/s1", token).json()["running"] is False
    assert api(b, "POST", "/sessions/s1/cancel", token).json()["cancelled"] is False


def test_deleting_through_the_other_replica_stops_the_run_first(replicas: list[Platform]) -> None:
    a, b = replicas
    token = a.signup("dan")
    thread, out = _slow_run(a, token, "doomed")
    _wait_running(b, token, "doomed")
    assert api(b, "DELETE", "/sessions/doomed", token).json()["deleted"] is True
    thread.join(SLOW / 2)
    assert not thread.is_alive()
    assert out["resp"].status_code == 409
    for p in (a, b):
        assert api(p, "GET", "/history/doomed", token).status_code == 404
        assert api(p, "GET", "/sessions", token).json()["total"] == 0
