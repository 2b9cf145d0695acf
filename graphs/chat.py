"""The `chat` agent: one model call over the (trimmed) conversation.

It has no tools of its own. Tools the API caller offers (`AgentContext.client_tools`) are
bound when present; a call to one pauses the run for the caller's results and the model is
called again with them (`graphs.client_tools`), or, with `pause=False` (as a subgraph of
`auto`, which pauses itself), ends the run.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from graphs import client_tools as client
from graphs.deps import AgentContext, configured_model, context_of
from graphs.prompts import with_system_prompt

__all__ = ["build_chat_graph"]


def build_chat_graph(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    pause: bool = True,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    del tools  # the chat agent answers from the model alone (and the caller's tools, if any)

    async def respond(state: MessagesState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        first = client.follows_client_input(state["messages"], ctx)
        model = client.bind_tools(configured_model(llm, ctx), [], ctx, first=first)
        reply = await model.ainvoke(with_system_prompt(state["messages"], ctx))
        return {"messages": [client.one_call_at_most(reply, ctx) if isinstance(reply, AIMessage) else reply]}

    def after_respond(state: MessagesState) -> str:
        return client.CLIENT_TOOLS if pause and client.unanswered(state["messages"]) else END

    graph = StateGraph(MessagesState, context_schema=AgentContext)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    if pause:
        graph.add_node(client.CLIENT_TOOLS, client.client_tools_node)
        graph.add_conditional_edges("respond", after_respond, [client.CLIENT_TOOLS, END])
        graph.add_edge(client.CLIENT_TOOLS, "respond")
    else:
        graph.add_edge("respond", END)
    return graph.compile(checkpointer=checkpointer, name="chat")
