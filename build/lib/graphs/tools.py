"""LangChain tool wrappers over the tools app (through `tools_service.client.ToolsClient`).

The model fills only the tool's own arguments (`code`, `query`); who is asking and which
session's workspace to use come from the run's `AgentContext` (LangGraph `context_schema`),
injected as `ToolRuntime`, so a model can never reach another user's files by naming them.
Each wrapper returns a compact string, also on failure ("tools service unavailable: ..."),
so `ToolNode` hands the model something it can read and the run goes on.

Every wrapper is built from its tool's contract (`tools_service.contracts`), the models the
tools app validates with, so there is no wrapper to write when adding a tool (see
docs/adding-a-tool.md); a hand-written builder (`ToolsClient -> BaseTool`) can still be passed
to `build_tools(builders=...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool

from graphs.deps import AgentContext, context_of
from tools_service.client import ToolResult, ToolsClient
from tools_service.contracts import ToolContract, all_contracts

__all__ = ["ToolBuilder", "tool_builders", "build_tools", "contract_tool", "format_result", "context_ids"]

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


# -- the wrappers, built from the contracts ------------------------------------------------


def contract_tool(contract: ToolContract) -> ToolBuilder:
    """The builder of `contract`'s LangChain tool: its name, description and `args_schema`
    are the contract's, so the model sees exactly the limits the tools app enforces."""

    def build(client: ToolsClient) -> BaseTool:
        async def call(runtime: ToolRuntime, **args: Any) -> str | tuple[str, dict[str, Any]]:
            ctx = context_ids(runtime)
            result = await client.run_tool(contract, ctx.user_id, args, session_id=ctx.session_id)
            if contract.artifact:
                # The text is for the model; the envelope rides along as the ToolMessage's artifact,
                # so agents (ultrawork's verifier) read exit code and files without parsing text.
                return format_result(result), result.model_dump()
            return format_result(result)

        return StructuredTool.from_function(
            coroutine=call,
            name=contract.name,
            description=contract.description,
            args_schema=contract.args,
            response_format="content_and_artifact" if contract.artifact else "content",
        )

    return build


def tool_builders() -> list[ToolBuilder]:
    """One builder per contract in the registry (`tools_service.contracts.TOOLS`)."""
    return [contract_tool(contract) for contract in all_contracts()]


def build_tools(client: ToolsClient, builders: Sequence[ToolBuilder] | None = None) -> list[BaseTool]:
    """The agents' tools, all calling the tools app through `client`."""
    return [build(client) for build in (tool_builders() if builders is None else builders)]
