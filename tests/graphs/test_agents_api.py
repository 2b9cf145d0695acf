"""Black-box: the agents through the OpenAI API, with a scripted OpenAI-compatible backend
and the real tools app and sandbox. A user asks `react` to compute something; the code
really runs in the sandbox, and the answer carries the result, streaming or not; `auto`
routes to `react` when the router says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import Reply, ScriptedLLM, scripted_llm, tool_call
from tests.tools_service.conftest import requires_bwrap

pytestmark = requires_bwrap

CODE = "total = sum(i * i for i in range(1, 101))\nprint('sum of squares:', total)"
RESULT = "338350"
ANSWER = f"The sum of the squares of 1 to 100 is {RESULT}."


@pytest.fixture
def platform(data_dir: Path) -> Iterator[Platform]:
    with scripted_llm() as llm, serve_platform(data_dir, llm, with_tools=True) as p:
        yield p


def client(platform: Platform) -> OpenAI:
    return OpenAI(base_url=platform.v1, api_key=platform.token, max_retries=0, timeout=120)


def script_computation(llm: ScriptedLLM) -> None:
    llm.push(Reply(tool_calls=[tool_call("python_coder", {"code": CODE})]), ANSWER)


def tool_results(request: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in request["messages"] if m.get("role") == "tool"]


def test_react_computes_in_the_sandbox(platform: Platform) -> None:
    script_computation(platform.llm)
    reply = client(platform).chat.completions.create(
        model="react", messages=[{"role": "user", "content": "Sum the squares of 1..100 with python."}]
    )

    assert reply.choices[0].message.content == ANSWER
    assert not reply.choices[0].message.tool_calls  # server-side tools are never handed to the client
    # The code really ran: the model's second request carried the sandbox's output.
    first, second = platform.llm.requests[-2:]
    assert [t["function"]["name"] for t in first.get("tools", [])] >= ["python_coder"]
    results = tool_results(second)
    assert len(results) == 1 and f"sum of squares: {RESULT}" in results[0] and "exit code 0" in results[0]
    steps = json.dumps((reply.model_extra or {}).get("x_steps", []))
    assert "Calling python_coder" in steps and RESULT in steps


def test_react_streams_progress_and_answer(platform: Platform) -> None:
    script_computation(platform.llm)
    stream = client(platform).chat.completions.create(
        model="react", messages=[{"role": "user", "content": "Sum the squares of 1..100 with python."}], stream=True
    )
    reasoning, content = [], []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        assert not delta.tool_calls, "tool calls must not reach the client"
        if text := (delta.model_extra or {}).get("reasoning_content"):
            reasoning.append(text)
        if delta.content:
            content.append(delta.content)

    progress = "".join(reasoning)
    assert "Calling python_coder" in progress and "print(" in progress  # the call and its arguments
    assert f"python_coder returned: the code ran successfully (exit code 0) stdout: sum of squares: {RESULT}" in (
        progress
    )
    assert "".join(content) == ANSWER
    assert f"sum of squares: {RESULT}" in tool_results(platform.llm.requests[-1])[0]


def test_auto_routes_to_react(platform: Platform) -> None:
    platform.llm.push(json.dumps({"agent": "react", "reason": "needs a computation"}))
    script_computation(platform.llm)
    resp = httpx.post(
        platform.v1 + "/chat/completions",
        headers=platform.headers(),
        timeout=120,
        json={"model": "auto", "messages": [{"role": "user", "content": "Sum the squares of 1..100."}]},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()

    assert body["choices"][0]["message"]["content"] == ANSWER
    router = platform.llm.requests[-3]
    assert router["response_format"]["type"] == "json_schema"  # structured output, not free text
    assert "tools" not in router
    steps = json.dumps(body.get("x_steps", []))
    assert "Route: react (needs a computation)" in steps and "Calling python_coder" in steps
    assert f"sum of squares: {RESULT}" in tool_results(platform.llm.requests[-1])[0]


def test_auto_router_failure_answers_with_chat(platform: Platform) -> None:
    platform.llm.push("not json at all", "Plain chat answer.")
    reply = client(platform).chat.completions.create(model="auto", messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content == "Plain chat answer."
    assert "tools" not in platform.llm.requests[-1]


def test_plan_execute_streams_only_the_final_answer_as_content(platform: Platform) -> None:
    platform.llm.push(
        json.dumps({"steps": [{"goal": "compute 6*7", "tool": "python_coder"}]}),
        Reply(tool_calls=[tool_call("python_coder", {"code": "print(6 * 7)"})]),
        "The step printed 42.",
        json.dumps({"action": "finish", "steps": [], "reason": "have it"}),
        "6 times 7 is 42.",
    )
    stream = client(platform).chat.completions.create(
        model="plan_execute", messages=[{"role": "user", "content": "What is 6*7?"}], stream=True
    )
    reasoning, content = [], []
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning.append((delta.model_extra or {}).get("reasoning_content") or "")
            content.append(delta.content or "")

    progress = "".join(reasoning)
    assert "Plan:\n1. compute 6*7 [tool: python_coder]" in progress
    assert "Step 1 result: The step printed 42." in progress and "stdout: 42" in progress
    assert "".join(content) == "6 times 7 is 42."


def test_ultrawork_writes_runs_and_verifies_in_the_sandbox(platform: Platform) -> None:
    code = "import json\njson.dump({'answer': 6 * 7}, open('result.json', 'w'))\nprint('wrote result.json')"
    platform.llm.push(
        json.dumps({"code": code, "explanation": "compute and save"}),
        json.dumps({"done": True, "feedback": "result.json was written", "summary": "42 saved"}),
        "Saved 42 to result.json; the run exited 0 and the verifier confirmed the file.",
    )
    reply = client(platform).chat.completions.create(
        model="ultrawork", messages=[{"role": "user", "content": "Compute 6*7 and save it as result.json."}]
    )

    assert reply.choices[0].message.content.startswith("Saved 42 to result.json")
    writer, verifier, report = platform.llm.requests[-3:]
    assert writer["response_format"]["type"] == verifier["response_format"]["type"] == "json_schema"
    evidence = verifier["messages"][0]["content"]  # what the sandbox really did, as the verifier saw it
    assert "Exit code: 0" in evidence and "wrote result.json" in evidence
    assert "Files in the workspace after the run: result.json" in evidence
    assert "Files produced: result.json" in report["messages"][-1]["content"]
    steps = json.dumps((reply.model_extra or {}).get("x_steps", []))
    assert "Verifier: done" in steps


def test_client_disconnect_mid_tool_kills_the_sandbox_run(platform: Platform) -> None:
    """Closing the stream cancels the run, which hangs up on the tools app, which kills the code."""
    import time

    code = "import time\ntime.sleep(3)\nopen('finished.txt', 'w').write('ran to the end')"
    platform.llm.push(Reply(tool_calls=[tool_call("python_coder", {"code": code})]), "never sent")
    body = {"model": "react", "stream": True, "session_id": "hangup",
            "messages": [{"role": "user", "content": "run it"}]}  # fmt: skip
    me = httpx.get(platform.url + "/api/auth/me", headers=platform.headers()).json()
    workspace = platform.settings.data_dir / "scratch" / me["id"] / "hangup"
    with httpx.stream("POST", platform.v1 + "/chat/completions", headers=platform.headers(), json=body,
                      timeout=30) as resp:  # fmt: skip
        lines = resp.iter_lines()  # kept referenced: a dropped generator would close the connection now
        for line in lines:
            if "python_coder" in line:  # the tool call's progress line
                break
        deadline = time.monotonic() + 10
        while not workspace.is_dir() and time.monotonic() < deadline:  # the tools app got the run
            time.sleep(0.05)
        time.sleep(0.5)  # the sandboxed code is sleeping now
    assert workspace.is_dir(), "the code did start in the session's workspace"
    time.sleep(4)
    assert not (workspace / "finished.txt").exists(), "the sandbox run was killed with the agent run"
    history = httpx.get(platform.url + "/api/chat/history/hangup", headers=platform.headers())
    assert history.status_code in (200, 404)
    if history.status_code == 200:
        assert not [m for m in history.json()["messages"] if m["role"] == "user"], "the turn was rolled back"
