"""Backend model ids are a faithful proxy, and unknown model ids are 404s as OpenAI gives them.

Real clients (`openai` SDK) over real HTTP to the main app, which forwards to the scripted
OpenAI-compatible backend: what the backend received is checked field by field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import WEATHER, Reply, ScriptedLLM, scripted_llm, tool_call

MODEL = "scripted-model"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform for the module: these tests only read what the backend was sent."""
    with scripted_llm() as llm:
        data = Path(tmp_path_factory.mktemp("passthrough"))
        with serve_platform(data, llm) as p:
            yield p


@pytest.fixture
def p(shared: Platform) -> Platform:
    shared.llm.script.clear()
    return shared


def client(p: Platform) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.v1, api_key=p.token, max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_is_404_model_not_found(p: Platform, stream: bool) -> None:
    before = len(p.llm.requests)
    with pytest.raises(openai.NotFoundError) as info:
        client(p).chat.completions.create(
            model="no-such-model", stream=stream, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.code == "model_not_found"
    assert info.value.status_code == 404
    with pytest.raises(openai.NotFoundError) as info:
        client(p).chat.completions.create(
            model="no-such-model",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"agent_type": "chat"},
        )
    assert info.value.code == "model_not_found"
    assert len(p.llm.requests) == before, "nothing ran"


def test_get_model_by_id(p: Platform) -> None:
    c = client(p)
    assert c.models.retrieve("chat").id == "chat"
    assert c.models.retrieve(MODEL).id == MODEL
    assert "all-MiniLM-L6-v2" in [m.id for m in c.models.list()]
    with pytest.raises(openai.NotFoundError) as info:
        c.models.retrieve("gpt-nothing")
    assert info.value.code == "model_not_found"


def test_every_parameter_reaches_the_backend(p: Platform) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image, and the weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    sent: dict[str, Any] = {
        "tools": [WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
        "n": 2,
        "stop": ["\n\n"],
        "max_completion_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 7,
        "logprobs": True,
        "top_logprobs": 2,
        "user": "end-user-1",
    }
    resp = client(p).chat.completions.create(model=MODEL, messages=messages, **sent)  # type: ignore[call-overload,arg-type]
    got = p.llm.requests[-1]
    assert got["model"] == MODEL
    for key, value in sent.items():
        assert got[key] == value, key
    assert got["messages"] == messages
    assert "session_id" not in got and "agent_type" not in got
    assert len(resp.choices) == 2
    answer = json.loads(resp.choices[0].message.content or "")  # the backend's JSON-mode answer, as it gave it
    assert answer["echo"].strip() == "What is in this image, and the weather?"


@pytest.mark.parametrize("stream", [False, True])
def test_backend_tool_calls_come_back(p: Platform, stream: bool) -> None:
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_9")]))
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "weather?"}], "tools": [WEATHER]}
    if not stream:
        resp = client(p).chat.completions.create(**kwargs)
        choice = resp.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls and choice.message.tool_calls[0].function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
        return
    chunks = list(client(p).chat.completions.create(stream=True, **kwargs))
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    args = "".join(
        tc.function.arguments or ""
        for c in chunks
        if c.choices
        for tc in c.choices[0].delta.tool_calls or []
        if tc.function is not None
    )
    assert json.loads(args) == {"city": "Oslo"}


@pytest.mark.parametrize("stream", [False, True])
def test_length_finish_reason_passes_through(p: Platform, stream: bool) -> None:
    p.llm.push("one two three four five six")
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "count"}], "max_tokens": 3}
    if stream:
        chunks = list(client(p).chat.completions.create(stream=True, **kwargs))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert (text, finish) == ("one two three", ["length"])
    else:
        resp = client(p).chat.completions.create(**kwargs)
        assert (resp.choices[0].message.content, resp.choices[0].finish_reason) == ("one two three", "length")
    assert p.llm.requests[-1]["max_tokens"] == 3


def test_backend_refusal_keeps_its_status(p: Platform) -> None:
    p.llm.push(Reply(status=400))
    resp = httpx.post(
        p.v1 + "/chat/completions",
        headers=p.headers(),
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "backend_rejected"


def test_agent_with_backend_model_still_runs_the_agent(p: Platform) -> None:
    resp = client(p).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], extra_body={"agent_type": "chat"}
    )
    assert resp.choices[0].message.content == "echo: hello"
    assert resp.model_extra and resp.model_extra["x_session_id"], "an agent turn has a session"
    assert p.llm.requests[-1]["model"] == MODEL


def test_allow_list_applies_to_pass_through(p: Platform) -> None:
    admin = {"Authorization": f"Bearer {p.token}"}
    httpx.put(p.url + "/api/admin/models/allowed", headers=admin, json={"models": ["other"]}).raise_for_status()
    user = p.signup("plainuser")
    try:
        resp = httpx.post(
            p.v1 + "/chat/completions",
            headers=p.headers(user),
            json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
        )
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "model_not_allowed"
    finally:
        httpx.put(p.url + "/api/admin/models/allowed", headers=admin, json={"models": []}).raise_for_status()


def test_llm_server_fixture_unused(llm_server: ScriptedLLM) -> None:
    """The scripted backend honours `stop` like a real one (the pass-through tests rely on it)."""
    assert ScriptedLLM._limit({"stop": "X"}, Reply("aXb")).content == "a"
