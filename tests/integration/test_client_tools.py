"""Client tools on agents: the caller's `tools` join the agent's own; a call to one ends the
response with `finish_reason: "tool_calls"`, and the caller's `role: "tool"` results resume
the run from its checkpoint.

Real parts: the `openai` SDK over HTTP to the main app, which calls a real tools app (the
agent's own python tool runs in the sandbox) and the scripted OpenAI-compatible backend,
whose recorded requests show what the model saw."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import WEATHER, Reply, scripted_llm, tool_call

ASK = {"role": "user", "content": "What is the weather in Oslo?"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform (with the tools app) for the module; each test uses its own sessions."""
    with scripted_llm() as llm:
        with serve_platform(Path(tmp_path_factory.mktemp("client-tools")), llm, with_tools=True) as p:
            yield p


@pytest.fixture
def p(shared: Platform) -> Platform:
    shared.llm.script.clear()
    shared.llm.requests.clear()
    return shared


def sdk(p: Platform) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.v1, api_key=p.token, max_retries=0)


def history(p: Platform, sid: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{p.url}/api/chat/history/{sid}", headers=p.headers())
    resp.raise_for_status()
    return [{k: v for k, v in m.items() if k != "id"} for m in resp.json()["messages"]]


def _ids(p: Platform, sid: str) -> list[str]:
    resp = httpx.get(f"{p.url}/api/chat/history/{sid}", headers=p.headers())
    return [m["id"] for m in resp.json()["messages"]]


def ask(p: Platform, messages: list[dict[str, Any]], *, stream: bool, **kwargs: Any) -> dict[str, Any]:
    """One request; the answer as {content, tool_calls, finish_reason, session}, streamed or not."""
    kwargs.setdefault("model", "react")
    if not stream:
        resp = sdk(p).chat.completions.create(messages=messages, **kwargs)  # type: ignore[call-overload]
        choice = resp.choices[0]
        calls = [c.model_dump() for c in choice.message.tool_calls or []]
        return {
            "content": choice.message.content or "",
            "tool_calls": calls,
            "finish_reason": choice.finish_reason,
            "session": (resp.model_extra or {}).get("x_session_id"),
        }
    chunks = list(sdk(p).chat.completions.create(messages=messages, stream=True, **kwargs))  # type: ignore[call-overload]
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            entry = calls.setdefault(
                d.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
            entry["id"] = d.id or entry["id"]
            if d.function is not None:
                entry["function"]["name"] += d.function.name or ""
                entry["function"]["arguments"] += d.function.arguments or ""
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1, "finish_reason only on the last choice chunk"
    return {
        "content": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
        "tool_calls": [calls[i] for i in sorted(calls)],
        "finish_reason": finishes[0],
        "session": (chunks[0].model_extra or {}).get("x_session_id"),
    }


def echo(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant turn as the client sends it back."""
    return {"role": "assistant", "content": None, "tool_calls": calls}


def offered(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_tool_call_pauses_the_run_and_its_result_resumes_it(p: Platform, stream: bool) -> None:
    sid = f"pause-{stream}"
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w1")]), "Sunny in Oslo, 21 C.")
    first = ask(p, [ASK], stream=stream, tools=[WEATHER], extra_body={"session_id": sid})
    assert first["finish_reason"] == "tool_calls"
    assert [(c["id"], c["function"]["name"]) for c in first["tool_calls"]] == [("call_w1", "get_weather")]
    assert json.loads(first["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    # The model saw the client's tool first, and the agent's own beside it.
    assert offered(p.llm.requests[0])[0] == "get_weather" and "python_coder" in offered(p.llm.requests[0])
    assert len(p.llm.requests) == 1, "the run paused: no second model call"

    result = {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21 C"}
    second = ask(
        p, [ASK, echo(first["tool_calls"]), result], stream=stream, tools=[WEATHER], extra_body={"session_id": sid}
    )
    assert (second["content"], second["finish_reason"], second["tool_calls"]) == ("Sunny in Oslo, 21 C.", "stop", [])
    seen = p.llm.requests[-1]["messages"]
    assert seen[-1] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21 C"}
    assert [c["id"] for c in seen[-2]["tool_calls"]] == ["call_w1"]
    assert len(p.llm.requests) == 2
    stored = history(p, sid)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert [c["id"] for c in stored[1]["tool_calls"]] == ["call_w1"]
    assert (stored[2]["tool_call_id"], stored[2]["content"]) == ("call_w1", "sunny, 21 C")
    assert stored[3]["content"] == "Sunny in Oslo, 21 C."


def test_the_agents_own_tool_runs_and_the_client_tool_pauses_in_one_turn(p: Platform) -> None:
    sid = "mixed"
    p.llm.push(
        Reply(
            tool_calls=[
                tool_call("python_coder", {"code": "print(6 * 7)"}, "call_py"),
                tool_call("get_weather", {"city": "Oslo"}, "call_w2"),
            ]
        ),
        "42, and sunny.",
    )
    first = ask(p, [ASK], stream=True, tools=[WEATHER], extra_body={"session_id": sid})
    assert first["finish_reason"] == "tool_calls"
    assert [c["id"] for c in first["tool_calls"]] == ["call_w2"], "only the client's call goes to the client"
    paused = history(p, sid)
    assert [m["role"] for m in paused] == ["user", "assistant", "tool"]
    assert paused[2]["tool_call_id"] == "call_py" and "42" in paused[2]["content"], "python ran server-side"

    result = {"role": "tool", "tool_call_id": "call_w2", "content": "sunny"}
    second = ask(p, [ASK, echo(first["tool_calls"]), result], stream=False, extra_body={"session_id": sid})
    assert second["content"] == "42, and sunny."
    seen = p.llm.requests[-1]["messages"]
    results = {m["tool_call_id"]: m["content"] for m in seen if m["role"] == "tool"}
    assert set(results) == {"call_py", "call_w2"} and results["call_w2"] == "sunny" and "42" in results["call_py"]
    assert [m["role"] for m in history(p, sid)] == ["user", "assistant", "tool", "tool", "assistant"]
    assert len(p.llm.requests) == 2, "python ran once: the resume did not repeat the server-side call"


@pytest.mark.parametrize("stream", [False, True])
def test_results_for_other_calls_are_a_400_and_store_nothing(p: Platform, stream: bool) -> None:
    sid = f"wrong-id-{stream}"
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w3")]))
    first = ask(p, [ASK], stream=False, tools=[WEATHER], extra_body={"session_id": sid})
    before = history(p, sid)
    wrong = {"role": "tool", "tool_call_id": "call_nope", "content": "sunny"}
    with pytest.raises(openai.BadRequestError) as info:  # results alone, for the session's paused run
        ask(p, [wrong], stream=stream, tools=[WEATHER], extra_body={"session_id": sid})
    assert info.value.code == "tool_call_id_mismatch" and "call_w3" in info.value.message
    body = info.value.body
    assert isinstance(body, dict) and body.get("type") == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as info:  # after the echoed call: checked before anything runs
        ask(p, [ASK, echo(first["tool_calls"]), wrong], stream=stream, extra_body={"session_id": sid})
    assert info.value.param == "messages[2].tool_call_id" and "call_nope" in info.value.message
    two = echo([*first["tool_calls"], {**first["tool_calls"][0], "id": "call_other"}])
    half = {"role": "tool", "tool_call_id": "call_w3", "content": "sunny"}
    with pytest.raises(openai.BadRequestError) as info:  # one of two calls answered
        ask(p, [ASK, two, half], stream=stream, extra_body={"session_id": sid})
    assert "call_other" in info.value.message
    no_id = {"role": "tool", "content": "sunny"}
    with pytest.raises(openai.BadRequestError) as info:
        ask(p, [ASK, echo(first["tool_calls"]), no_id], stream=stream, extra_body={"session_id": sid})
    assert info.value.param == "messages[2].tool_call_id"
    assert history(p, sid) == before and len(p.llm.requests) == 1, "nothing stored, the model never called"
    # The right result still resumes the paused run.
    p.llm.push("Sunny.")
    right = {"role": "tool", "tool_call_id": "call_w3", "content": "sunny"}
    assert ask(p, [right], stream=stream, extra_body={"session_id": sid})["content"] == "Sunny."


def test_a_new_message_abandons_the_pending_calls(p: Platform) -> None:
    sid = "abandon"
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w4")]), "Hello!")
    first = ask(p, [ASK], stream=False, tools=[WEATHER], extra_body={"session_id": sid})
    hello = {"role": "user", "content": "Never mind, just say hello."}
    answer = ask(p, [ASK, echo(first["tool_calls"]), hello], stream=False, extra_body={"session_id": sid})
    assert answer["content"] == "Hello!" and answer["finish_reason"] == "stop"
    stored = history(p, sid)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "user", "assistant"]
    assert stored[2]["tool_call_id"] == "call_w4" and stored[2]["content"].startswith("(no result")
    seen = p.llm.requests[-1]["messages"]
    assert seen[-1]["content"] == hello["content"] and seen[-2]["role"] == "tool", "the model saw a closed call"


def test_a_stateless_client_resumes_by_resending_the_history(p: Platform) -> None:
    """No session id (LangChain, agent SDKs): the resent history, tool call ids included,
    finds the paused session."""
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w5")]), "Sunny.")
    first = ask(p, [ASK], stream=False, tools=[WEATHER])
    result = {"role": "tool", "tool_call_id": "call_w5", "content": "sunny"}
    second = ask(p, [ASK, echo(first["tool_calls"]), result], stream=False, tools=[WEATHER])
    assert second["content"] == "Sunny." and second["session"] == first["session"]
    assert [m["role"] for m in history(p, first["session"])] == ["user", "assistant", "tool", "assistant"]


@pytest.mark.parametrize("model", ["chat", "auto"])
def test_chat_and_auto_take_client_tools_too(p: Platform, model: str) -> None:
    sid = f"agent-{model}"
    if model == "auto":  # the router, offered only the agents that take client tools, picks react
        p.llm.push(json.dumps({"agent": "react", "reason": "needs a tool"}))
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w6")]), "Sunny.")
    first = ask(p, [ASK], stream=True, model=model, tools=[WEATHER], extra_body={"session_id": sid})
    assert first["finish_reason"] == "tool_calls" and first["tool_calls"][0]["id"] == "call_w6"
    if model == "auto":
        router = p.llm.requests[0]["response_format"]["json_schema"]["schema"]
        assert json.dumps(router).count('"plan_execute"') == 0, "auto offers only chat and react"
        assert "python_coder" in offered(p.llm.requests[1]), "routed to react"
    else:
        assert offered(p.llm.requests[0]) == ["get_weather"]
    result = {"role": "tool", "tool_call_id": "call_w6", "content": "sunny"}
    second = ask(p, [ASK, echo(first["tool_calls"]), result], stream=True, model=model, extra_body={"session_id": sid})
    assert second["content"] == "Sunny."
    assert p.llm.requests[-1]["messages"][-1]["content"] == "sunny"
    # Resumed from the checkpoint (Command(resume=...)): auto went back into react without a new route.
    assert len(p.llm.requests) == (3 if model == "auto" else 2)
    assert [m["role"] for m in history(p, sid)] == ["user", "assistant", "tool", "assistant"]


@pytest.mark.parametrize("model", ["plan_execute", "ultrawork"])
def test_agents_without_client_tools_say_so(p: Platform, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(p, [ASK], stream=False, model=model, tools=[WEATHER])
    assert "react" in info.value.message and "chat" in info.value.message and info.value.param == "tools"
    assert p.llm.requests == []


def test_tool_choice_reaches_the_model_and_bad_ones_are_400(p: Platform) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w7")]))
    ask(p, [ASK], stream=False, tools=[WEATHER], tool_choice=choice, extra_body={"session_id": "choice"})
    assert p.llm.requests[-1]["tool_choice"] == choice
    for bad in ({"type": "function", "function": {"name": "python_coder"}}, "sometimes"):
        with pytest.raises(openai.BadRequestError) as info:
            ask(p, [ASK], stream=False, tools=[WEATHER], tool_choice=bad)
        assert info.value.param == "tool_choice"
    clash = {**WEATHER, "function": {**WEATHER["function"], "name": "python_coder"}}
    with pytest.raises(openai.BadRequestError):
        ask(p, [ASK], stream=False, tools=[clash])


@pytest.mark.parametrize(("model", "stream"), [("react", False), ("react", True), ("chat", True)])
def test_parallel_tool_calls_false_gives_one_call_a_step(p: Platform, model: str, stream: bool) -> None:
    """OpenAI's `parallel_tool_calls: false`: the backend is asked for one call, and a backend
    that answers with two anyway (as this scripted one does) still yields one to the caller."""
    sid = f"one-call-{model}-{stream}"
    two = [tool_call("get_weather", {"city": "Oslo"}, "call_p1"), tool_call("get_weather", {"city": "Rome"}, "call_p2")]
    p.llm.push(Reply(tool_calls=two), "Sunny in Oslo.")
    kwargs: dict[str, Any] = {"model": model, "tools": [WEATHER], "extra_body": {"session_id": sid}}
    first = ask(p, [ASK], stream=stream, parallel_tool_calls=False, **kwargs)
    assert p.llm.requests[-1]["parallel_tool_calls"] is False
    assert first["finish_reason"] == "tool_calls"
    assert [c["id"] for c in first["tool_calls"]] == ["call_p1"]
    assert [[c["id"] for c in m.get("tool_calls") or []] for m in history(p, sid)] == [[], ["call_p1"]]
    result = {"role": "tool", "tool_call_id": "call_p1", "content": "sunny"}
    second = ask(p, [ASK, echo(first["tool_calls"]), result], stream=stream, parallel_tool_calls=False, **kwargs)
    assert second["content"] == "Sunny in Oslo."
    assert [c["id"] for c in p.llm.requests[-1]["messages"][-2]["tool_calls"]] == ["call_p1"]

    # Without the flag, both calls reach the caller and the backend is not told anything.
    p.llm.push(Reply(tool_calls=two))
    both = ask(p, [ASK], stream=stream, model=model, tools=[WEATHER])
    assert [c["id"] for c in both["tool_calls"]] == ["call_p1", "call_p2"]
    assert "parallel_tool_calls" not in p.llm.requests[-1]


@pytest.mark.parametrize("stream", [False, True])
def test_a_retried_pause_replays_its_tool_calls(p: Platform, stream: bool) -> None:
    sid, key = f"replay-{stream}", {"Idempotency-Key": f"pause-{stream}"}
    p.llm.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w8")]))
    kwargs: dict[str, Any] = {"tools": [WEATHER], "extra_body": {"session_id": sid}, "extra_headers": key}
    first = ask(p, [ASK], stream=False, **kwargs)
    again = ask(p, [ASK], stream=stream, **kwargs)
    assert (again["tool_calls"], again["finish_reason"]) == (first["tool_calls"], "tool_calls")
    assert len(p.llm.requests) == 1 and [m["role"] for m in history(p, sid)] == ["user", "assistant"]


def test_a_failed_resume_is_rolled_back_and_can_be_retried(p: Platform) -> None:
    sid = "resume-fails"
    p.llm.push(
        Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_w9")]), Reply(status=500), Reply(status=500)
    )
    first = ask(p, [ASK], stream=False, tools=[WEATHER], extra_body={"session_id": sid})
    paused = history(p, sid)
    result = {"role": "tool", "tool_call_id": "call_w9", "content": "sunny"}
    resume = [ASK, echo(first["tool_calls"]), result]
    with pytest.raises(openai.APIStatusError) as info:
        ask(p, resume, stream=False, extra_body={"session_id": sid})
    assert info.value.status_code == 502
    assert history(p, sid) == paused, "the failed resume left nothing behind"
    p.llm.push("Sunny after all.")
    assert ask(p, resume, stream=False, extra_body={"session_id": sid})["content"] == "Sunny after all."
    stored = history(p, sid)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[2]["content"] == "sunny"
    assert p.llm.requests[-1]["messages"][-1] == {"role": "tool", "tool_call_id": "call_w9", "content": "sunny"}


def test_a_history_with_tool_rounds_starts_a_session_that_keeps_them(p: Platform) -> None:
    """A client that ran its tools elsewhere (no paused run) sends the rounds as history."""
    call = {"id": "abc123", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    done = {"role": "tool", "tool_call_id": "abc123", "content": "sunny"}
    p.llm.push("It was sunny.")
    answer = ask(p, [ASK, echo([call]), done], stream=False, tools=[WEATHER], extra_body={"session_id": "given"})
    assert answer["content"] == "It was sunny."
    seen = p.llm.requests[-1]["messages"]
    assert seen[-1] == {"role": "tool", "tool_call_id": "abc123", "content": "sunny"}
    assert seen[-2]["tool_calls"][0]["id"] == "abc123"
    stored = history(p, "given")
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    ids = _ids(p, "given")
    # The next turn resends all of it: only the new question is added, nothing is replaced.
    p.llm.push("Bye.")
    more = [
        ASK,
        echo([call]),
        done,
        {"role": "assistant", "content": "It was sunny."},
        {"role": "user", "content": "bye"},
    ]
    ask(p, more, stream=False, extra_body={"session_id": "given"})
    assert [m["role"] for m in history(p, "given")] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert _ids(p, "given")[:4] == ids
