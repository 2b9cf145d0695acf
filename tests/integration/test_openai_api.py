"""The OpenAI wire contract, checked with real clients over real HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from tests.integration.conftest import Platform


def client(p: Platform) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.v1, api_key=p.token, max_retries=0)


def test_non_streaming_completion(platform: Platform) -> None:
    platform.llm.push("Paris is the capital of France.")
    resp = client(platform).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert resp.choices[0].message.content == "Paris is the capital of France."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.object == "chat.completion"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    assert resp.model_extra and resp.model_extra["x_session_id"]


def test_streaming_with_usage(platform: Platform) -> None:
    platform.llm.push("one two three four")
    stream = client(platform).chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    ids = {c.id for c in chunks}
    assert len(ids) == 1, "one stable id across the stream"
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last_choice = [c for c in chunks if c.choices][-1]
    assert last_choice.choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_stream_ends_with_done_line(platform: Platform) -> None:
    platform.llm.push("hello there")
    with httpx.stream(
        "POST",
        platform.v1 + "/chat/completions",
        headers=platform.headers(),
        json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-session-id"]
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


def test_models_lists_agents_and_backend_models(platform: Platform) -> None:
    ids = [m.id for m in client(platform).models.list()]
    assert "chat" in ids
    assert "scripted-model" in ids


def test_three_turns_resending_history_each_user_message_seen_once(platform: Platform) -> None:
    c = client(platform)
    history: list[dict[str, str]] = [{"role": "system", "content": "Be brief."}]
    sid = "resend-session"
    for turn in ("first question", "second question", "third question"):
        history.append({"role": "user", "content": turn})
        resp = c.chat.completions.create(model="chat", messages=history, extra_body={"session_id": sid})
        history.append({"role": "assistant", "content": resp.choices[0].message.content or ""})
    seen = platform.llm.user_messages(-1)
    assert seen == ["first question", "second question", "third question"]
    system = [m for m in platform.llm.requests[-1]["messages"] if m["role"] == "system"]
    assert [m["content"] for m in system] == ["Be brief."]
    assert history[-1]["content"] == "echo: third question"


def test_seed_style_session_sends_only_new_message(platform: Platform) -> None:
    c = client(platform)
    sid = "seed-session"
    for turn in ("alpha", "beta", "gamma"):
        c.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": turn}], extra_headers={"X-Session-Id": sid}
        )
    assert platform.llm.user_messages(-1) == ["alpha", "beta", "gamma"]
    assistants = [m["content"] for m in platform.llm.requests[-1]["messages"] if m["role"] == "assistant"]
    assert assistants == ["echo: alpha", "echo: beta"]


def test_regenerate_replaces_last_answer(platform: Platform) -> None:
    c = client(platform)
    sid = "regen"
    msgs = [{"role": "user", "content": "q1"}]
    a1 = c.chat.completions.create(model="chat", messages=msgs, extra_body={"session_id": sid})
    msgs += [{"role": "assistant", "content": a1.choices[0].message.content or ""}, {"role": "user", "content": "q2"}]
    c.chat.completions.create(model="chat", messages=msgs, extra_body={"session_id": sid})
    platform.llm.push("a better answer")
    c.chat.completions.create(model="chat", messages=msgs, extra_body={"session_id": sid})  # regenerate q2
    msgs_next = [*msgs, {"role": "assistant", "content": "a better answer"}, {"role": "user", "content": "q3"}]
    c.chat.completions.create(model="chat", messages=msgs_next, extra_body={"session_id": sid})
    sent = [(m["role"], m["content"]) for m in platform.llm.requests[-1]["messages"] if m["role"] != "system"]
    assert sent == [
        ("user", "q1"),
        ("assistant", "echo: q1"),
        ("user", "q2"),
        ("assistant", "a better answer"),
        ("user", "q3"),
    ]


def test_temperature_zero_is_sent_as_zero(platform: Platform) -> None:
    client(platform).chat.completions.create(model="chat", temperature=0, messages=[{"role": "user", "content": "x"}])
    assert platform.llm.requests[-1]["temperature"] == 0


def test_backend_model_name_passes_through(platform: Platform) -> None:
    client(platform).chat.completions.create(model="scripted-model", messages=[{"role": "user", "content": "x"}])
    assert platform.llm.requests[-1]["model"] == "scripted-model"


def test_langchain_chatopenai_as_client(platform: Platform) -> None:
    platform.llm.push("from langchain")
    model = ChatOpenAI(base_url=platform.v1, api_key=platform.token, model="chat", max_retries=0)  # type: ignore[arg-type]
    assert model.invoke([HumanMessage("hi")]).content == "from langchain"
    platform.llm.push("streamed via langchain")
    assert "".join(str(c.content) for c in model.stream([HumanMessage("hi")])) == "streamed via langchain"


def test_multipart_form_request(platform: Platform) -> None:
    platform.llm.push("form ok")
    resp = httpx.post(
        platform.v1 + "/chat/completions",
        headers=platform.headers(),
        data={"messages": '[{"role":"user","content":"hi"}]', "model": "chat", "session_id": "form1"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["choices"][0]["message"]["content"] == "form ok"
    assert body["x_session_id"] == "form1"
    assert resp.headers["x-session-id"] == "form1"


@pytest.mark.parametrize("ua", ["openwebui"])
def test_openwebui_chat_id_header_maps_to_session(platform: Platform, ua: str) -> None:
    c = client(platform)
    for text in ("one", "two"):
        c.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": text}],
            extra_headers={"X-OpenWebUI-Chat-Id": "webui-chat-1"},
        )
    assert platform.llm.user_messages(-1) == ["one", "two"]


OPEN_WEBUI_TITLE = """### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: first question
ASSISTANT: echo: first question
</chat_history>"""


def test_front_end_housekeeping_prompt_stays_out_of_the_session(platform: Platform) -> None:
    c = client(platform)
    headers = {"X-OpenWebUI-Chat-Id": "webui-chat-2"}
    c.chat.completions.create(
        model="react", messages=[{"role": "user", "content": "first question"}], extra_headers=headers
    )
    platform.llm.push('{"title": "First question"}')
    title = c.chat.completions.create(
        model="react", messages=[{"role": "user", "content": OPEN_WEBUI_TITLE}], extra_headers=headers
    )
    assert title.choices[0].message.content == '{"title": "First question"}'
    assert "tools" not in platform.llm.requests[-1], "answered by chat, without tools"
    sessions = httpx.get(platform.url + "/api/chat/sessions", headers=platform.headers()).json()
    assert [s["id"] for s in sessions["data"]] == ["webui-chat-2"]
    c.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "second question"}], extra_headers=headers
    )
    assert platform.llm.user_messages(-1) == ["first question", "second question"]
    import sqlite3

    with sqlite3.connect(platform.settings.data_dir / "checkpoints.db") as db:
        threads = {row[0] for row in db.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert threads and not any(":aux-" in t for t in threads), "the throwaway thread was deleted"
