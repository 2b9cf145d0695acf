"""The auto router: routing to each agent, recent-conversation context, fallbacks, and
Open WebUI's auxiliary prompts, with a scripted model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from pydantic import BaseModel

from graphs import build_all, build_graph
from graphs.auto import is_auxiliary_prompt
from graphs.plan_execute import Plan, PlanStep, Replan
from graphs.ultrawork import CodeDraft, Verdict
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call
from tests.graphs.conftest import run_graph

OPEN_WEBUI_TITLE = """### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Guidelines:
- The title should clearly represent the main theme or subject of the conversation.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: what is 2+2?
ASSISTANT: 4
</chat_history>"""

OPEN_WEBUI_FOLLOW_UPS = OPEN_WEBUI_TITLE.replace(
    "Generate a concise, 3-5 word title with an emoji summarizing the chat history.",
    "Suggest 3-5 relevant follow-up questions or prompts that the user might naturally ask next.",
)


class RouteDecision(BaseModel):  # what the router's schema is called; the fake emits a tool call by that name
    agent: str
    reason: str = ""


SCRIPTS: dict[str, list[Any]] = {
    "chat": ["Hi there."],
    "react": [ai_tool_calls(tool_call("multiply", a=6, b=7)), "6*7 = 42."],
    "plan_execute": [Plan(steps=[PlanStep(goal="one")]), "r", Replan(action="finish"), "Planned answer."],
    "ultrawork": [CodeDraft(code="print(42)"), Verdict(done=True, feedback="42 printed"), "Ran it: 42."],
}
ANSWERS = {"chat": "Hi there.", "react": "6*7 = 42.", "plan_execute": "Planned answer.", "ultrawork": "Ran it: 42."}


@pytest.mark.parametrize("target", list(SCRIPTS))
async def test_routes_to_each_agent(target: str, all_tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[RouteDecision(agent=target, reason=f"fits {target}"), *SCRIPTS[target]])
    graph = build_all(llm=llm, tools=all_tools, checkpointer=InMemorySaver())["auto"]
    run = await run_graph(graph, "please help")

    assert llm.remaining == 0
    assert run.state["route"] == target and run.state["route_reason"] == f"fits {target}"
    assert run.progress[0] == f"Route: {target} (fits {target})"
    assert run.answer == ANSWERS[target]
    visible = [m for m in run.messages if not (isinstance(m, AIMessage) and m.tool_calls)]
    assert [type(m) for m in visible if not m.type == "tool"] == [HumanMessage, AIMessage]
    assert "".join(run.tokens) == ANSWERS[target]


async def test_router_sees_recent_conversation() -> None:
    llm = ScriptedChatModel(
        responses=[
            RouteDecision(agent="chat"),
            "Paris.",
            RouteDecision(agent="chat"),
            "About 2.1 million.",
        ]
    )
    graph = build_graph("auto", llm=llm, tools=[], checkpointer=InMemorySaver())
    await run_graph(graph, "capital of France?", thread="s")
    await run_graph(graph, "and its population?", thread="s")

    router_input = llm.calls[2]
    assert isinstance(router_input[0], SystemMessage) and "react" in router_input[0].content
    assert [m.content for m in router_input[1:]] == ["capital of France?", "Paris.", "and its population?"]


@pytest.mark.parametrize("prompt", [OPEN_WEBUI_TITLE, OPEN_WEBUI_FOLLOW_UPS])
async def test_auxiliary_prompts_go_straight_to_chat(prompt: str) -> None:
    llm = ScriptedChatModel(responses=['{"title": "🧮 Simple Sum"}'])
    graph = build_graph("auto", llm=llm, tools=[], checkpointer=InMemorySaver())
    run = await run_graph(graph, prompt)

    assert len(llm.calls) == 1  # no router call
    assert run.state["route"] == "chat"
    assert run.answer == '{"title": "🧮 Simple Sum"}'


def test_auxiliary_detection_is_specific() -> None:
    assert is_auxiliary_prompt(OPEN_WEBUI_TITLE)
    assert not is_auxiliary_prompt("### Task: write me a poem about titles")  # no chat history block
    assert not is_auxiliary_prompt("Generate a title for my essay.\n### Chat History: none")


@pytest.mark.parametrize("bad", [AIMessage("react, I think"), RouteDecision(agent="teleport"), ValueError("boom")])
async def test_router_failure_falls_back_to_chat(bad: Any) -> None:
    llm = ScriptedChatModel(responses=[bad, "Chat answer."])
    graph = build_graph("auto", llm=llm, tools=[], checkpointer=InMemorySaver())
    run = await run_graph(graph, "hello")
    assert run.state["route"] == "chat" and run.answer == "Chat answer."


async def test_auto_session_resumes_across_restart(tmp_path: Path, all_tools: list[BaseTool]) -> None:
    db = str(tmp_path / "cp.db")
    llm = ScriptedChatModel(
        responses=[
            RouteDecision(agent="react"),
            ai_tool_calls(tool_call("multiply", a=3, b=3)),
            "9.",
            RouteDecision(agent="chat"),
            "You asked for 3*3.",
        ]
    )
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        await run_graph(build_all(llm=llm, tools=all_tools, checkpointer=saver)["auto"], "3*3?", thread="s")
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        run = await run_graph(build_all(llm=llm, tools=all_tools, checkpointer=saver)["auto"], "what?", thread="s")

    chat_saw = [m.content for m in llm.calls[-1] if isinstance(m, HumanMessage | AIMessage) and m.content]
    assert chat_saw == ["3*3?", "9.", "what?"]
    assert run.answer == "You asked for 3*3." and run.state["route"] == "chat"


@pytest.mark.parametrize(
    ("prompt", "cued"),
    [
        ("Use Python to compute 17*23", "react"),
        ("Look up the office opening hours in my uploaded handbook", "react"),
        ("Write a Python script that saves the squares of 1 to 10 to squares.csv", "ultrawork"),
        ("Hello! How are you today?", "chat"),
    ],
)
async def test_small_models_route_by_the_requests_own_words(prompt: str, cued: str) -> None:
    """Structured tool calling (a small model): an explicit cue picks the agent without a
    router call; with native tool calling the model decides, even against the cue."""
    answers: dict[str, list[Any]] = {
        "react": ["17*23 = 391."],
        "ultrawork": [],
        "chat": ["Hi!"],
    }  # ultrawork: no sandbox
    llm = ScriptedChatModel(responses=answers[cued])
    graph = build_graph("auto", llm=llm, tools=[], checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, prompt)
    assert run.state["route"] == cued and llm.remaining == 0
    assert run.progress[0].startswith(f"Route: {cued} (the request asks for it")
    assert len(llm.calls) == len(answers[cued])  # the agent's own calls only: no router call

    choice = "react" if cued == "chat" else "chat"  # against the cue
    native = ScriptedChatModel(responses=[RouteDecision(agent=choice, reason="model's call"), "An answer."])
    graph = build_graph("auto", llm=native, tools=[], checkpointer=InMemorySaver(), tool_calling="native")
    assert (await run_graph(graph, prompt)).state["route"] == choice


async def test_small_models_without_a_cue_still_ask_the_router() -> None:
    llm = ScriptedChatModel(responses=[RouteDecision(agent="chat", reason="small talk"), "Hi there."])
    graph = build_graph("auto", llm=llm, tools=[], checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, "Tell me about the history of Rome")
    assert run.state["route"] == "chat" and run.state["route_reason"] == "small talk" and llm.remaining == 0
