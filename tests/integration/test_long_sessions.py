"""Long sessions keep a bounded checkpoint: older messages move to the transcript table,
the full history stays readable, and resent or seed-style histories still reconcile."""

from __future__ import annotations

from pathlib import Path

import httpx
from langgraph.checkpoint.sqlite import SqliteSaver

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import ScriptedLLM

WINDOW = 6
TURNS = 20


def _turn(p: Platform, sid: str, messages: list[dict[str, str]]) -> httpx.Response:
    body = {"model": "chat", "session_id": sid, "messages": messages}
    return httpx.post(p.v1 + "/chat/completions", json=body, headers=p.headers(), timeout=60)


def _window(p: Platform, sid: str) -> int:
    """How many messages the session's latest checkpoint holds."""
    user_id = httpx.get(p.url + "/api/auth/me", headers=p.headers()).json()["id"]
    with SqliteSaver.from_conn_string(str(p.settings.data_dir / "checkpoints.db")) as saver:
        found = saver.get_tuple({"configurable": {"thread_id": f"{user_id}:{sid}"}})
    assert found is not None
    return len(found.checkpoint["channel_values"]["messages"])


def _history(p: Platform, sid: str) -> list[tuple[str, str]]:
    data = httpx.get(f"{p.url}/api/chat/history/{sid}", headers=p.headers()).json()
    return [(m["role"], m["content"]) for m in data["messages"]]


def test_a_client_resending_the_whole_history(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, checkpoint_window=WINDOW, max_conversation_history=4) as p:
        sent: list[dict[str, str]] = [{"role": "system", "content": "be brief"}]
        for t in range(TURNS):
            sent.append({"role": "user", "content": f"q{t}"})
            resp = _turn(p, "long", sent)
            assert resp.status_code == 200, resp.text
            sent.append({"role": "assistant", "content": resp.json()["choices"][0]["message"]["content"]})
        assert _history(p, "long") == [(m["role"], m["content"]) for m in sent]
        assert _window(p, "long") <= 1 + WINDOW + WINDOW // 2 + 2  # bounded, not 41
        # The model still got the system prompt and the recent turns.
        seen = p.llm.requests[-1]["messages"]
        assert seen[0] == {"role": "system", "content": "be brief"}
        assert seen[-1] == {"role": "user", "content": f"q{TURNS - 1}"}
        # Regenerating the last answer (history without it) still works...
        regen = _turn(p, "long", sent[:-1])
        assert regen.status_code == 200
        assert _history(p, "long")[-1] == ("assistant", f"echo: q{TURNS - 1}")
        assert len(_history(p, "long")) == len(sent)
        # ...but an edit of a message that left the window is a clear 409, and nothing changes.
        edited = [*sent[:3], {"role": "user", "content": "changed"}]
        resp = _turn(p, "long", edited)
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "history_edit_too_old"
        assert len(_history(p, "long")) == len(sent)


def test_a_seed_style_client_sending_only_the_new_message(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, checkpoint_window=WINDOW, max_conversation_history=4) as p:
        for t in range(TURNS):
            assert _turn(p, "seed", [{"role": "user", "content": f"m{t}"}]).status_code == 200
        expected = [pair for t in range(TURNS) for pair in (("user", f"m{t}"), ("assistant", f"echo: m{t}"))]
        assert _history(p, "seed") == expected
        assert _window(p, "seed") <= WINDOW + WINDOW // 2 + 2
        assert httpx.delete(f"{p.url}/api/chat/sessions/seed", headers=p.headers()).status_code == 200
        assert httpx.get(f"{p.url}/api/chat/history/seed", headers=p.headers()).status_code == 404
