"""The agents' `rag_query` / `rag_list_collections` tools, over real HTTP with the service
key: the user comes from the run context, never from the model's arguments."""

from __future__ import annotations

from typing import Any

from langchain.tools import ToolRuntime

from graphs.deps import AgentContext
from graphs.tools import build_tools
from tests.rag.conftest import ServerFactory
from tools_service.client import ToolsClient


def _runtime(user: str) -> ToolRuntime:
    context: Any = AgentContext(user_id=user)
    return ToolRuntime(
        state={}, context=context, config={}, stream_writer=lambda _: None, tool_call_id="call_1", store=None
    )


async def _invoke(tool: Any, user: str, **args: Any) -> str:
    """Calls the wrapper as ToolNode does, with the run's runtime injected."""
    return await tool.coroutine(runtime=_runtime(user), **args)  # type: ignore[no-any-return]


async def test_rag_tools_act_for_the_context_user(rag_server: ServerFactory) -> None:
    with rag_server() as server:
        alice = server.client("alice")
        alice.create("handbook")
        alice.upload("handbook", {"leave.txt": b"Employees get twenty five days of paid leave per year."})
        async with ToolsClient(server.url, server.settings.tools_key) as client:
            tools = {t.name: t for t in build_tools(client)}
            assert {"rag_query", "rag_list_collections"} <= set(tools)
            assert set(tools["rag_query"].args) == {"collection", "query", "top_k"}  # no identity argument
            assert set(tools["rag_list_collections"].args) == set()

            listed = await _invoke(tools["rag_list_collections"], "alice")
            assert "handbook" in listed
            found = await _invoke(tools["rag_query"], "alice", collection="handbook", query="paid leave days")
            assert "twenty five days" in found and "leave.txt" in found

            assert "handbook" not in await _invoke(tools["rag_list_collections"], "mallory")
            denied = await _invoke(tools["rag_query"], "mallory", collection="handbook", query="paid leave")
            assert denied.startswith("Error") and "not found" in denied and "twenty five" not in denied
