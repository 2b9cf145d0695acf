"""Client tools: functions the API caller offers with its request (`tools`) and runs itself.

They join an agent's own tools for the model, and nothing else changes for the agent's
tools: a model turn's calls to those still run server-side. When the model calls a client
tool the run pauses in `client_tools_node` with a LangGraph `interrupt` whose value is
`{"tool_calls": [...]}` (LangChain tool calls): the checkpoint keeps the turn, the API answers
`finish_reason: "tool_calls"`, and the caller's next request brings the results, which resume
the run with `Command(resume={tool_call_id: result text})`.

The specs arrive per run in `AgentContext.client_tools` (OpenAI function-tool dicts), with
the caller's `tool_choice`. That choice applies to the model call that follows the caller's
own input (its message, or its tool results); later steps of the same run (after the agent's
own tools) choose freely, so a forced choice cannot spin the agent's loop. The caller's
`parallel_tool_calls: false` holds on every step: the model is asked for one call where its
client takes the flag (ChatOpenAI), and `one_call_at_most` keeps only the first call of a
step whatever the backend did.

Agents that are subgraphs of `auto` are built with `pause=False`: they end the run at a client
call instead, and `auto` pauses at its own level, so the paused turn is in its state.
"""

from __future__ import annotations

import inspect
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import MessagesState
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graphs.deps import AgentContext

__all__ = [
    "CLIENT_TOOLS",
    "MISSING_RESULT",
    "offered",
    "unanswered",
    "client_calls",
    "server_calls",
    "follows_client_input",
    "bind_tools",
    "one_call_at_most",
    "as_tools",
    "client_tools_node",
]

CLIENT_TOOLS = "client_tools"  # the pausing node's name, in every graph that has one
MISSING_RESULT = "(no result: the client did not return one for this call)"


def offered(ctx: AgentContext) -> set[str]:
    """The names of the tools the caller offered in this request."""
    return {str((spec.get("function") or {}).get("name")) for spec in ctx.client_tools}


def _last_caller(messages: list[AnyMessage]) -> AIMessage | None:
    """The latest tool-calling assistant message, if nothing but tool results follows it."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage):
            continue
        return message if isinstance(message, AIMessage) and message.tool_calls else None
    return None


def unanswered(messages: list[AnyMessage]) -> list[ToolCall]:
    """The calls of the latest tool-calling turn that no tool result answers yet."""
    caller = _last_caller(messages)
    if caller is None:
        return []
    index = max(i for i, m in enumerate(messages) if m is caller)
    answered = {m.tool_call_id for m in messages[index + 1 :] if isinstance(m, ToolMessage)}
    return [c for c in caller.tool_calls if c["id"] not in answered]


def client_calls(calls: list[ToolCall], ctx: AgentContext) -> list[ToolCall]:
    names = offered(ctx)
    return [c for c in calls if c["name"] in names]


def server_calls(calls: list[ToolCall], ctx: AgentContext) -> list[ToolCall]:
    """Calls the agent runs itself: its own tools (and names nobody offered, which its tool
    node answers with an error the model can read)."""
    names = offered(ctx)
    return [c for c in calls if c["name"] not in names]


def follows_client_input(messages: list[AnyMessage], ctx: AgentContext) -> bool:
    """True when the next model call answers the caller's own input: its message, or the
    results of the client tools it ran (where its `tool_choice` applies)."""
    if not messages or isinstance(messages[-1], HumanMessage):
        return True
    caller = _last_caller(messages)
    return caller is not None and bool(client_calls(caller.tool_calls, ctx))


def bind_tools(
    model: BaseChatModel, tools: list[BaseTool], ctx: AgentContext, *, first: bool
) -> Runnable[Any, Any] | BaseChatModel:
    """`model` with the caller's tools (first, as it listed them) and the agent's own bound;
    the caller's `tool_choice` on the step that answers its input (`first`)."""
    specs: list[Any] = [*ctx.client_tools, *tools]
    choice = ctx.tool_choice if first and ctx.client_tools else None
    if choice == "none":
        return model  # the caller asked for an answer without tool calls
    if not specs:
        return model
    options: dict[str, Any] = {}
    if ctx.parallel_tool_calls is False and "parallel_tool_calls" in inspect.signature(model.bind_tools).parameters:
        options["parallel_tool_calls"] = False
    if choice is not None:
        options["tool_choice"] = choice  # a function dict as OpenAI takes it, or a mode name
    return model.bind_tools(specs, **options)


def one_call_at_most(reply: AIMessage, ctx: AgentContext) -> AIMessage:
    """`reply` with only its first tool call when the caller sent `parallel_tool_calls: false`
    (a backend may ignore the flag, or not know it)."""
    if ctx.parallel_tool_calls is not False or len(reply.tool_calls) <= 1:
        return reply
    extra = {k: v for k, v in reply.additional_kwargs.items() if k != "tool_calls"}  # the raw calls, all of them
    return reply.model_copy(
        update={"tool_calls": reply.tool_calls[:1], "invalid_tool_calls": [], "additional_kwargs": extra}
    )


def as_tools(ctx: AgentContext) -> list[BaseTool]:
    """The caller's tools as LangChain tools (for structured decisions, which build their
    schema from tools). They are never run here: the run pauses before."""

    def never(**_: Any) -> str:
        raise RuntimeError("client tools run on the client")

    out: list[BaseTool] = []
    for spec in ctx.client_tools:
        fn = spec.get("function") or {}
        out.append(
            StructuredTool(
                name=str(fn.get("name")),
                description=str(fn.get("description") or fn.get("name")),
                args_schema=fn.get("parameters") or {"type": "object", "properties": {}},
                func=never,
            )
        )
    return out


async def client_tools_node(state: MessagesState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Pause for the caller's results of the pending client calls; on resume, record them.

    Runs again from the top when resumed (LangGraph's rule), so it does nothing before the
    interrupt but read the state. A call the caller left out gets a placeholder result.
    """
    del runtime
    pending = unanswered(state["messages"])
    if not pending:
        return {}
    results = interrupt({"tool_calls": [dict(c) for c in pending]})
    results = results if isinstance(results, dict) else {}
    return {
        "messages": [
            ToolMessage(str(results.get(c["id"], MISSING_RESULT)), tool_call_id=c["id"], name=c["name"])
            for c in pending
        ]
    }
