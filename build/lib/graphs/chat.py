"""The `chat` agent: one model call over the (trimmed) conversation."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from graphs.deps import AgentContext, configured_model, context_of
from graphs.prompts import with_system_prompt

__all__ = ["build_chat_graph"]


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
