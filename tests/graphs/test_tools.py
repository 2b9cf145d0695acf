"""The LangChain tool wrappers, run by a real `ToolNode` (and the real react graph) against
the live tools app over HTTP, with the identity taken from the run's `AgentContext`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from graphs.deps import AgentContext
from graphs.react import build_react_graph
from graphs.tools import build_tools, tool_builders
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call
from tests.servers import free_port
from tests.tools_service.conftest import ToolsApp, requires_bwrap, run_tools_app
from tools_service.client import ToolsClient


def tool_graph(client: ToolsClient):  # type: ignore[no-untyped-def]
    graph = StateGraph(MessagesState, context_schema=AgentContext)
    graph.add_node("tools", ToolNode(build_tools(client)))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile()


async def run_calls(client: ToolsClient, *calls: dict, ctx: AgentContext) -> list[ToolMessage]:
    state = await tool_graph(client).ainvoke({"messages": [ai_tool_calls(*calls)]}, context=ctx)
    return [m for m in state["messages"] if isinstance(m, ToolMessage)]


@pytest.fixture
def tools_app(data_dir: Path) -> Iterator[ToolsApp]:
    with run_tools_app(data_dir) as app:
        yield app


@pytest.fixture
async def client(tools_app: ToolsApp) -> AsyncIterator[ToolsClient]:
    async with ToolsClient(tools_app.url, tools_app.settings.tools_key, timeout=60) as c:
        yield c


async def test_schemas_match_the_tools_app_and_hide_identity(client: ToolsClient) -> None:
    served = {t["name"]: t for t in await client.list_tools()}
    for tool in build_tools(client):
        schema = tool.tool_call_schema.model_json_schema()
        assert set(schema["properties"]) == set(served[tool.name]["parameters"]["properties"]), tool.name
        assert schema.get("required", []) == served[tool.name]["parameters"].get("required", [])
        assert not {"user_id", "session_id", "runtime"} & set(schema["properties"])
    assert [b(client).name for b in tool_builders()][:2] == ["python_coder", "websearch"]


@requires_bwrap
async def test_python_coder_runs_in_the_contexts_workspace(client: ToolsClient, tools_app: ToolsApp) -> None:
    ctx = AgentContext(user_id="carol", session_id="chat-9")
    # The model tries to choose another user's session: the extra arguments are ignored.
    call = tool_call(
        "python_coder", code="open('note.txt','w').write('hi'); print('done')", session_id="x", user_id="bob"
    )
    [msg] = await run_calls(client, call, ctx=ctx)
    assert msg.status == "success" and "exit code 0" in msg.content and "done" in msg.content
    assert "note.txt" in msg.content
    assert (tools_app.workspace("carol", "chat-9") / "note.txt").read_text() == "hi"
    assert not tools_app.workspace("bob", "x").exists()
    [failed] = await run_calls(client, tool_call("python_coder", code="1/0"), ctx=ctx)
    assert failed.content.startswith("Error: the code failed (exit code 1): ZeroDivisionError")


async def test_websearch_failure_reads_as_an_error(client: ToolsClient) -> None:
    [msg] = await run_calls(client, tool_call("websearch", query="news"), ctx=AgentContext(user_id="carol"))
    assert msg.content == "Error: web search is not configured: set TAVILY_API_KEY"


async def test_tools_app_down_gives_the_model_a_readable_error() -> None:
    async with ToolsClient(f"http://127.0.0.1:{free_port()}", "key", timeout=5) as down:
        messages = await run_calls(
            down, tool_call("python_coder", code="print(1)"), tool_call("websearch", query="x"), ctx=AgentContext()
        )
    assert len(messages) == 2
    for msg in messages:
        assert msg.content.startswith("Error: tools service unavailable"), msg.content


@requires_bwrap
async def test_react_agent_uses_the_tool_and_answers(client: ToolsClient, tools_app: ToolsApp) -> None:
    model = ScriptedChatModel(
        responses=[ai_tool_calls(tool_call("python_coder", code="print(6 * 7)")), AIMessage(content="It is 42.")]
    )
    graph = build_react_graph(llm=model, tools=build_tools(client))
    state = await graph.ainvoke(
        {"messages": [HumanMessage("What is 6*7? Use Python.")]}, context=AgentContext(user_id="erin", session_id="r1")
    )
    tool_msgs = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert len(tool_msgs) == 1 and "42" in tool_msgs[0].content
    assert state["messages"][-1].content == "It is 42."
    assert tools_app.workspace("erin", "r1").is_dir()
