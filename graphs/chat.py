"""The `chat` agent: one model call over the (trimmed) conversation."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from graphs.deps import AgentContext, configured_model, context_of, trim_history
from graphs.prompts import render_prompt

__all__ = ["build_chat_graph", "with_system_prompt"]


def with_system_prompt(messages: list[AnyMessage], ctx: AgentContext, graph: str = "chat") -> list[AnyMessage]:
    """Trimmed history, led by our system prompt unless the client sent its own."""
    trimmed = trim_history(messages, ctx.max_history)
    if any(isinstance(m, SystemMessage) for m in trimmed):
        if ctx.attachments:
            return [SystemMessage(ctx.attachments.strip()), *trimmed]
        return trimmed
    attachments = f"\n\n{ctx.attachments.strip()}" if ctx.attachments else ""
    return [SystemMessage(render_prompt(graph, "system", attachments=attachments)), *trimmed]


def build_chat_graph(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    del tools  # the chat agent answers from the model alone

    async def respond(state: MessagesState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        reply = await configured_model(llm, ctx).ainvoke(with_system_prompt(state["messages"], ctx))
        return {"messages": [reply]}

    graph = StateGraph(MessagesState, context_schema=AgentContext)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    graph.add_edge("respond", END)
    return graph.compile(checkpointer=checkpointer, name="chat")
