"""Client tools in the graphs: a call to a caller's tool pauses the run with a LangGraph
interrupt (its value: the pending calls), and `Command(resume={tool_call_id: result})`
continues it from the checkpoint; the agent's own tools in the same turn run first."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import BaseModel

from graphs import build_all, build_graph
from graphs.decisions import FINAL_ANSWER, SCHEMA_TITLE
from graphs.deps import AgentContext
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call

WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
CTX = AgentContext(user_id="bob", client_tools=[WEATHER])
CONFIG: dict[str, Any] = {"configurable": {"thread_id": "t"}}


async def _run(graph: Any, graph_input: Any, ctx: AgentContext = CTX) -> dict[str, Any]:
    final: dict[str, Any] = {}
    stream = graph.astream(graph_input, CONFIG, context=ctx, stream_mode=["values"], subgraphs=True)
    async for ns, _mode, data in stream:
        if not ns:
            final = data
    return final


async def test_react_runs_its_own_tool_pauses_for_the_client_and_resumes(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[
            ai_tool_calls(tool_call("add", "c_add", a=2, b=3), tool_call("get_weather", "c_w", city="Oslo")),
            "5, and sunny.",
        ]
    )
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver())
    paused = await _run(graph, {"messages": [HumanMessage("add 2 and 3, and the weather?")]})
    [pending] = paused["__interrupt__"]
    assert [c["id"] for c in pending.value["tool_calls"]] == ["c_w"]
    state = await graph.aget_state(CONFIG)
    assert state.interrupts and [type(m).__name__ for m in state.values["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
    ]
    assert state.values["messages"][2].content.startswith("5"), "the agent's own tool ran before the pause"

    done = await _run(graph, Command(resume={"c_w": "sunny"}))
    assert "__interrupt__" not in done and done["messages"][-1].content == "5, and sunny."
    results = {m.tool_call_id: m.content for m in done["messages"] if isinstance(m, ToolMessage)}
    assert results["c_w"] == "sunny" and results["c_add"].startswith("5")
    assert len(llm.calls) == 2 and isinstance(llm.calls[1][-1], ToolMessage)


async def test_chat_pauses_and_resumes_and_no_client_tools_means_no_pause() -> None:
    llm = ScriptedChatModel(responses=[ai_tool_calls(tool_call("get_weather", "c1", city="Oslo")), "Sunny.", "Hi."])
    graph = build_graph("chat", llm=llm, checkpointer=InMemorySaver())
    paused = await _run(graph, {"messages": [HumanMessage("weather?")]})
    assert paused["__interrupt__"][0].value["tool_calls"][0]["id"] == "c1"
    done = await _run(graph, Command(resume={"c1": "sunny"}))
    assert done["messages"][-1].content == "Sunny."
    plain = await _run(graph, {"messages": [HumanMessage("hello")]}, AgentContext())
    assert plain["messages"][-1].content == "Hi." and "__interrupt__" not in plain


class _Route(BaseModel):
    agent: str
    reason: str = ""


async def test_auto_pauses_at_its_own_level_and_resumes_into_the_routed_agent(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[_Route(agent="react"), ai_tool_calls(tool_call("get_weather", "c9", city="Oslo")), "Sunny."]
    )
    graph = build_all(llm=llm, tools=tools, checkpointer=InMemorySaver())["auto"]
    paused = await _run(graph, {"messages": [HumanMessage("weather?")]})
    assert paused["__interrupt__"][0].value["tool_calls"][0]["id"] == "c9"
    stored = (await graph.aget_state(CONFIG)).values["messages"]
    assert isinstance(stored[-1], AIMessage) and stored[-1].tool_calls, "the paused turn is in auto's own state"
    done = await _run(graph, Command(resume={"c9": "sunny"}))
    assert done["messages"][-1].content == "Sunny."
    assert len(llm.calls) == 3, "resumed into react without asking the router again"


async def test_a_plan_step_never_sees_client_tools(tools: list[BaseTool]) -> None:
    """The internal ReAct loop (plan_execute's executor) ignores the caller's tools: a call
    to one there is an unknown tool, answered with an error, and nothing pauses."""
    llm = ScriptedChatModel(responses=[ai_tool_calls(tool_call("get_weather", "c2", city="Oslo")), "done"])
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), internal=True)
    done = await _run(graph, {"messages": [HumanMessage("weather?")]})
    assert "__interrupt__" not in done
    error = next(m for m in done["messages"] if isinstance(m, ToolMessage))
    assert error.status == "error" and error.tool_call_id == "c2"


async def test_structured_mode_offers_client_tools_in_the_decision_schema(tools: list[BaseTool]) -> None:
    """Small local models decide in JSON (TOOL_CALLING_MODE=structured): the caller's tools are
    alternatives of that schema, and choosing one pauses the run as a native call would."""
    decide = ai_tool_calls(tool_call(SCHEMA_TITLE, step={"action": "get_weather", "city": "Oslo"}))
    llm = ScriptedChatModel(
        responses=[decide, ai_tool_calls(tool_call(SCHEMA_TITLE, step={"action": FINAL_ANSWER})), "Sunny."]
    )
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), tool_calling="structured")
    paused = await _run(graph, {"messages": [HumanMessage("weather in Oslo?")]})
    [call] = paused["__interrupt__"][0].value["tool_calls"]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Oslo"})
    assert "get_weather" in str(llm.calls[0][0].content), "the decision prompt lists the caller's tool"
    done = await _run(graph, Command(resume={call["id"]: "sunny"}))
    assert done["messages"][-1].content == "Sunny."
