"""LangChain tool wrappers over the tools app (through `tools_service.client.ToolsClient`).

The model fills only the tool's own arguments (`code`, `query`); who is asking and which
session's workspace to use come from the run's `AgentContext` (LangGraph `context_schema`),
injected as `ToolRuntime`, so a model can never reach another user's files by naming them.
Each wrapper returns a compact string, also on failure ("tools service unavailable: ..."),
so `ToolNode` hands the model something it can read and the run goes on.

Adding a tool: write its builder (a function `ToolsClient -> BaseTool`) and append it to
`TOOL_BUILDERS` (see docs/adding-a-tool.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from graphs.deps import AgentContext, context_of
from tools_service.client import ToolResult, ToolsClient

__all__ = ["ToolBuilder", "TOOL_BUILDERS", "build_tools", "format_result", "context_ids"]

ToolBuilder = Callable[[ToolsClient], BaseTool]

_STREAM_CHARS = 4000  # per stream, for the model; the full output stays in the tools app's reply
_MAX_FILES_LISTED = 30


def context_ids(runtime: ToolRuntime | None) -> AgentContext:
    """The run's identity; outside a graph run (no context), the local defaults."""
    return context_of(runtime)  # type: ignore[arg-type]


def _clip(text: str, limit: int = _STREAM_CHARS) -> str:
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-limit // 4 :]
    return f"{head}\n... [{len(text) - len(head) - len(tail)} characters cut] ...\n{tail}"


def format_result(result: ToolResult) -> str:
    """The envelope as the model sees it: the answer, then the tool's key data, clipped."""
    parts = [result.answer if result.success else f"Error: {result.answer}"]
    data = result.data
    if "stdout" in data or "stderr" in data:
        if data.get("stdout"):
            parts.append("stdout:\n" + _clip(str(data["stdout"])))
        if data.get("stderr"):
            parts.append("stderr:\n" + _clip(str(data["stderr"])))
        files = data.get("files") or []
        if files:
            names = [f"{f.get('name')} ({f.get('size')} B{', new/changed' if f.get('changed') else ''})" for f in files]
            more = f" and {len(names) - _MAX_FILES_LISTED} more" if len(names) > _MAX_FILES_LISTED else ""
            parts.append("files in the workspace: " + ", ".join(names[:_MAX_FILES_LISTED]) + more)
    return "\n\n".join(parts)


# -- python_coder ---------------------------------------------------------------------------


class PythonCoderArgs(BaseModel):
    code: str = Field(description="The complete Python program to run.")
    timeout: float | None = Field(default=None, description="Wall-clock limit in seconds (optional).")


def python_coder_tool(client: ToolsClient) -> BaseTool:
    async def python_coder(code: str, runtime: ToolRuntime, timeout: float | None = None) -> tuple[str, dict[str, Any]]:
        ctx = context_ids(runtime)
        result = await client.python_coder(ctx.user_id, ctx.session_id, code, timeout=timeout)
        # The text is for the model; the envelope rides along as the ToolMessage's artifact,
        # so agents (ultrawork's verifier) read exit code and files without parsing text.
        return format_result(result), result.model_dump()

    return StructuredTool.from_function(
        coroutine=python_coder,
        name="python_coder",
        description=(
            "Run Python 3 code in a sandboxed workspace and get stdout, stderr, the exit code and the "
            "workspace's files. Files persist between runs in this conversation; files the user uploaded "
            "are in the working directory. numpy, pandas and matplotlib (save figures with savefig) are "
            "available; there is no network access. Print what you want to see."
        ),
        args_schema=PythonCoderArgs,
        response_format="content_and_artifact",
    )


# -- websearch ------------------------------------------------------------------------------


class WebSearchArgs(BaseModel):
    query: str = Field(description="What to search for.")
    max_results: int | None = Field(default=None, ge=1, le=20, description="How many results.")
    search_depth: Literal["basic", "advanced"] | None = Field(default=None, description="Search depth.")


def websearch_tool(client: ToolsClient) -> BaseTool:
    async def websearch(
        query: str,
        runtime: ToolRuntime,
        max_results: int | None = None,
        search_depth: Literal["basic", "advanced"] | None = None,
    ) -> str:
        ctx = context_ids(runtime)
        return format_result(await client.websearch(ctx.user_id, query, max_results, search_depth))

    return StructuredTool.from_function(
        coroutine=websearch,
        name="websearch",
        description=(
            "Search the web for current information. Returns an answer summary and the top results "
            "(title, URL, snippet). Use for facts that may have changed or that you do not know."
        ),
        args_schema=WebSearchArgs,
    )


# -- rag ------------------------------------------------------------------------------------


class RagQueryArgs(BaseModel):
    collection: str = Field(description="Name of one of the user's document collections (see rag_list_collections).")
    query: str = Field(description="What to look for, as a question or keywords.")
    top_k: int | None = Field(default=None, ge=1, le=20, description="How many passages (optional).")


class RagListArgs(BaseModel):
    pass


def rag_query_tool(client: ToolsClient) -> BaseTool:
    async def rag_query(collection: str, query: str, runtime: ToolRuntime, top_k: int | None = None) -> str:
        ctx = context_ids(runtime)
        body: dict[str, object] = {"collection": collection, "query": query}
        if top_k is not None:
            body["top_k"] = top_k
        return format_result(await client.call(ctx.user_id, "/api/tools/rag/query", body))

    return StructuredTool.from_function(
        coroutine=rag_query,
        name="rag_query",
        description=(
            "Search one of the user's uploaded document collections and get the best matching passages, "
            "each with its file name and a relevance score in [0, 1]. Quote or cite the passages you use."
        ),
        args_schema=RagQueryArgs,
    )


def rag_list_collections_tool(client: ToolsClient) -> BaseTool:
    async def rag_list_collections(runtime: ToolRuntime) -> str:
        ctx = context_ids(runtime)
        return format_result(await client.call(ctx.user_id, "/api/tools/rag/collections", method="GET"))

    return StructuredTool.from_function(
        coroutine=rag_list_collections,
        name="rag_list_collections",
        description="List the user's document collections (name, number of documents) that rag_query can search.",
        args_schema=RagListArgs,
    )


# The extension point: one builder per tool.
TOOL_BUILDERS: list[ToolBuilder] = [python_coder_tool, websearch_tool, rag_query_tool, rag_list_collections_tool]


def build_tools(client: ToolsClient, builders: Sequence[ToolBuilder] | None = None) -> list[BaseTool]:
    """The agents' tools, all calling the tools app through `client`."""
    return [build(client) for build in (TOOL_BUILDERS if builders is None else builders)]
