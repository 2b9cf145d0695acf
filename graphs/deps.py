"""What a graph needs at run time: the per-run context and small helpers nodes share.

Graphs are built by factories that take the model, tools and checkpointer; everything
that varies per request (who is asking, which session, temperature) arrives through
`AgentContext`, LangGraph's `context_schema`, never through global settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from core.llm import with_options

__all__ = ["AgentContext", "INTERNAL", "context_of", "configured_model", "trim_history", "progress"]

# Config for model calls whose tokens are not the user-visible answer (router, planner,
# verifier, code writer, plan steps): `nostream` keeps them out of LangGraph's messages
# stream, so the API streams only answer tokens as `delta.content`; narrate such work
# with `progress(...)` instead.
INTERNAL: RunnableConfig = {"tags": ["nostream", "internal"]}


@dataclass
class AgentContext:
    user_id: str = "local"
    session_id: str = "default"
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_history: int = 50
    # What the user attached to this session (file names and extracted metadata), for the prompt.
    attachments: str = ""
    # Tools the API caller offered (OpenAI function-tool dicts) and its `tool_choice`: they
    # join the agent's own; a call to one pauses the run (graphs.client_tools).
    client_tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    # The caller's `parallel_tool_calls`: False means at most one tool call per model step.
    parallel_tool_calls: bool | None = None


def context_of(runtime: Runtime[AgentContext] | None) -> AgentContext:
    ctx = getattr(runtime, "context", None)
    return ctx if isinstance(ctx, AgentContext) else AgentContext()


def configured_model(llm: BaseChatModel, ctx: AgentContext) -> BaseChatModel:
    """The graph's model with this run's options applied (temperature 0 stays 0)."""
    return with_options(llm, temperature=ctx.temperature, max_tokens=ctx.max_tokens, model=ctx.model)


def trim_history(messages: list[AnyMessage], limit: int) -> list[AnyMessage]:
    """The last `limit` messages for the model, system messages kept; stored history is untouched.

    The cut never starts on a tool result whose call was cut away (providers reject that).
    """
    system = [m for m in messages if isinstance(m, SystemMessage)]
    rest = [m for m in messages if not isinstance(m, SystemMessage)]
    if limit > 0 and len(rest) > limit:
        rest = rest[-limit:]
        while rest and isinstance(rest[0], ToolMessage):
            rest = rest[1:]
    return system + rest


def progress(text: str, **data: Any) -> None:
    """Narrate agent progress (route, plan, step, tool call); the API streams it as
    `delta.reasoning_content`. A no-op outside a streaming run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:
        return
    writer({"type": "progress", "text": text, **data})
