"""Open WebUI's way of talking, as its defaults send it: no session id, no chat-id header,
the whole visible conversation resent each turn, and task prompts (title, follow-ups) to the
same model. One chat must be one server session, and the task prompts must leave it alone."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.conftest import Platform
from tests.integration.test_passthrough import client

TITLE = (
    "### Task:\nGenerate a concise title for the chat.\n### Guidelines:\n- short\n### Output:\n"
    '{ "title": "..." }\n### Chat History:\n<chat_history>\nUSER: hi\n</chat_history>'
)


def sessions(p: Platform, token: str) -> list[dict[str, Any]]:
    resp = httpx.get(p.url + "/api/chat/sessions", headers=p.headers(token))
    resp.raise_for_status()
    return list(resp.json()["data"])


def ask(p: Platform, token: str, messages: list[dict[str, str]], model: str = "chat") -> tuple[str, str]:
    c = client(p).with_options(api_key=token)
    resp = c.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    assert resp.model_extra
    return resp.choices[0].message.content or "", str(resp.model_extra["x_session_id"])


def test_one_chat_is_one_session_without_ids(platform: Platform) -> None:
    token = platform.signup("webui-user")
    system = {"role": "system", "content": "You are helpful."}
    history: list[dict[str, str]] = [system, {"role": "user", "content": "first question"}]
    answer, sid = ask(platform, token, history)
    # Open WebUI folds reasoning into <details> when it sends the answer back.
    history += [{"role": "assistant", "content": f'<details type="reasoning">thinking</details>\n{answer}'}]

    _, title_sid = ask(platform, token, [{"role": "user", "content": TITLE}])
    assert title_sid != sid

    history.append({"role": "user", "content": "second question"})
    answer2, sid2 = ask(platform, token, history)
    assert sid2 == sid, "the resent chat continued its session"
    seen = [m["content"] for m in platform.llm.requests[-1]["messages"] if m["role"] == "user"]
    assert seen == ["first question", "second question"], "the history was not duplicated"

    history += [{"role": "assistant", "content": answer2}, {"role": "user", "content": "third"}]
    assert ask(platform, token, history)[1] == sid

    # A new chat (no assistant message yet), and another whose history matches nothing, are new sessions.
    assert ask(platform, token, [system, {"role": "user", "content": "first question"}])[1] != sid
    other = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "never said"},
        {"role": "user", "content": "y"},
    ]
    assert ask(platform, token, other)[1] != sid
    assert [s["id"] for s in sessions(platform, token)].count(sid) == 1
    assert len(sessions(platform, token)) == 3, "the title request made no session"


def test_another_users_chat_is_never_continued(platform: Platform) -> None:
    alice, bob = platform.signup("alice-w"), platform.signup("bob-w")
    history: list[dict[str, str]] = [{"role": "user", "content": "shared words"}]
    answer, sid = ask(platform, alice, history)
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "more"}]
    _, bob_sid = ask(platform, bob, history)
    assert sessions(platform, bob)[0]["id"] == bob_sid
    assert ask(platform, alice, history)[1] == sid
