"""The ReAct agent's control flow with a scripted model and local tools."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs import build_graph
from graphs.deps import AgentContext
from graphs.react import INTERRUPTED_RESULT, STOPPED_EARLY_NOTE
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call
from tests.graphs.conftest import run_graph


def kinds(messages: list) -> list[str]:
    return [type(m).__name__.replace("Message", "") for m in messages]


async def test_tool_loop_runs_tools_and_answers(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[
            ai_tool_calls(tool_call("add", a=2, b=3)),
            ai_tool_calls(tool_call("multiply", a=5, b=7)),
            "2+3 is 5 and 5*7 is 35.",
        ]
    )
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver())
    run = await run_graph(graph, "compute (2+3)*7", ctx=AgentContext(user_id="bob"))

    assert run.answer == "2+3 is 5 and 5*7 is 35."
    assert kinds(run.messages) == ["Human", "AI", "Tool", "AI", "Tool", "AI"]
    tool_results = [m.content for m in run.messages if isinstance(m, ToolMessage)]
    assert tool_results == ["5 (for bob)", "35"]  # the tool read the run's context
    # The model saw our system prompt, then each tool result before its next turn.
    first, third = llm.calls[0], llm.calls[2]
    assert isinstance(first[0], SystemMessage) and "tools" in first[0].content
    assert [m.content for m in third if isinstance(m, ToolMessage)] == ["5 (for bob)", "35"]
    assert any(p.startswith("Calling add(") and '"a": 2' in p for p in run.progress)
    assert "multiply returned: 35" in run.progress
    assert "".join(run.tokens) == run.answer  # the answer streams token by token


async def test_parallel_tool_calls_in_one_turn(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[
            ai_tool_calls(tool_call("add", a=1, b=1), tool_call("multiply", a=3, b=4)),
            "2 and 12",
        ]
    )
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver())
    run = await run_graph(graph, "both please")

    assert kinds(run.messages) == ["Human", "AI", "Tool", "Tool", "AI"]
    calls = run.messages[1].tool_calls
    results = {m.tool_call_id: m.content for m in run.messages if isinstance(m, ToolMessage)}
    assert results == {calls[0]["id"]: "2 (for alice)", calls[1]["id"]: "12"}
    assert run.answer == "2 and 12"


async def test_tool_error_goes_back_to_the_model(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[ai_tool_calls(tool_call("flaky", x="q")), "The tool failed; sorry."])
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver())
    run = await run_graph(graph, "try it")

    error = next(m for m in run.messages if isinstance(m, ToolMessage))
    assert error.status == "error" and "backend down for q" in error.content
    assert any(isinstance(m, ToolMessage) and "backend down" in m.content for m in llm.calls[1])
    assert any(p.startswith("flaky failed:") for p in run.progress)
    assert run.answer == "The tool failed; sorry."


async def test_stops_early_at_max_iterations_and_says_so(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[
            ai_tool_calls(tool_call("add", a=1, b=1)),
            ai_tool_calls(tool_call("add", a=2, b=2)),
            "Partial: 2 and 4.",  # the forced answer, asked for without tools
        ]
    )
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), max_iterations=2)
    run = await run_graph(graph, "keep adding")

    assert llm.remaining == 0
    assert run.answer == "Partial: 2 and 4.\n\n" + STOPPED_EARLY_NOTE.format(n=2)
    assert kinds(run.messages) == ["Human", "AI", "Tool", "AI", "Tool", "AI"]
    stop = llm.calls[2][-1]
    assert isinstance(stop, HumanMessage) and "all 2 tool rounds" in stop.content
    assert any("limit of 2 tool rounds" in p for p in run.progress)
    assert run.tokens == []  # not streamed token by token: the API sends the whole answer with its note


async def test_without_tools_it_just_answers() -> None:
    llm = ScriptedChatModel(responses=["Hello."])
    graph = build_graph("react", llm=llm, tools=[], checkpointer=InMemorySaver())
    run = await run_graph(graph, "hi")
    assert kinds(run.messages) == ["Human", "AI"]
    assert run.answer == "Hello."


async def test_session_resumes_from_checkpoint(tmp_path: Path, tools: list[BaseTool]) -> None:
    db = str(tmp_path / "checkpoints.db")
    llm = ScriptedChatModel(responses=[ai_tool_calls(tool_call("add", a=20, b=22)), "It is 42.", "You asked 20+22."])
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        graph = build_graph("react", llm=llm, tools=tools, checkpointer=saver)
        await run_graph(graph, "what is 20+22?", thread="s1")
    # A new process: a fresh graph and saver over the same database file.
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        graph = build_graph("react", llm=llm, tools=tools, checkpointer=saver)
        run = await run_graph(graph, "what did I ask?", thread="s1")
        history = [c async for c in graph.aget_state_history({"configurable": {"thread_id": "s1"}})]

    seen = llm.calls[-1]
    assert [m.content for m in seen if isinstance(m, HumanMessage)] == ["what is 20+22?", "what did I ask?"]
    assert any(isinstance(m, ToolMessage) and m.content.startswith("42") for m in seen)
    assert kinds(run.messages) == ["Human", "AI", "Tool", "AI", "Human", "AI"]
    assert [m for m in run.messages if isinstance(m, AIMessage) and not m.tool_calls][-1].text == "You asked 20+22."
    assert len(history) >= 8  # every super-step of both turns is checkpointed


async def test_cancelled_run_leaves_a_consistent_checkpoint(tmp_path: Path) -> None:
    """A client disconnect cancels the run mid-tool; the session stays usable."""
    started = asyncio.Event()

    @tool
    async def slow(x: int) -> int:
        """A tool that takes a while."""
        started.set()
        await asyncio.sleep(30)
        return x

    llm = ScriptedChatModel(responses=[ai_tool_calls(tool_call("slow", x=1)), "Answer after the interruption."])
    config = {"configurable": {"thread_id": "c"}}
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.db")) as saver:
        graph = build_graph("react", llm=llm, tools=[slow], checkpointer=saver)
        task = asyncio.create_task(run_graph(graph, "go slow", thread="c"))
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        state = await graph.aget_state(config)
        # The last checkpoint is a completed super-step: the tool-calling turn, nothing half-written.
        assert kinds(state.values["messages"]) == ["Human", "AI"] and state.next == ("tools",)

        run = await run_graph(graph, "are you there?", thread="c")

    seen = llm.calls[-1]
    call_id = state.values["messages"][1].tool_calls[0]["id"]
    placeholder = [m for m in seen if isinstance(m, ToolMessage) and m.tool_call_id == call_id]
    assert [m.content for m in placeholder] == [INTERRUPTED_RESULT]
    assert seen[-1].content == "are you there?"
    assert run.answer == "Answer after the interruption."
