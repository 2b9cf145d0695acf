"""The `auto` agent: a router that picks `chat`, `react`, `plan_execute` or `ultrawork` and runs it.

The router (structured output) sees the recent visible conversation, not only the last
message, so follow-ups ("now plot it") stay with the agent that fits. The chosen agent runs
as a subgraph node; the agents are injected (`subgraphs=`, built by the registry), never
imported, so this module depends on none of them. When the router fails or answers something unusable, the request
goes to `chat`: the cheapest agent, and the one that never runs tools the user did not ask for.

With tools from the API caller (client tools) it routes only to `chat` or `react`, the agents
that take them; those run as subgraphs that end at a client call, and `auto` pauses at its
own level (`client_tools` node), so the paused turn sits in its state, and resumes into the
agent it routed to.

Front ends such as Open WebUI send auxiliary prompts (chat title, tags, follow-up questions)
to the same model; those go straight to `chat` without a router call.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, create_model

from graphs import client_tools as client
from graphs.deps import INTERNAL, AgentContext, configured_model, context_of, progress
from graphs.housekeeping import is_auxiliary_prompt
from graphs.prompts import render_prompt
from graphs.route_cues import cue_route
from graphs.text import last_user_text, visible_conversation

__all__ = ["AutoState", "ROUTES", "CLIENT_TOOL_ROUTES", "AGENT_DESCRIPTIONS", "build_auto_graph", "is_auxiliary_prompt"]

log = logging.getLogger(__name__)

ROUTES: tuple[str, ...] = ("chat", "react", "plan_execute", "ultrawork")
CLIENT_TOOL_ROUTES: tuple[str, ...] = ("chat", "react")  # the agents that take a caller's tools
FALLBACK = "chat"
ROUTER_HISTORY = 8  # visible messages the router sees

AGENT_DESCRIPTIONS: dict[str, str] = {
    "chat": "conversation, explanations, writing and questions answerable from general knowledge; no tools",
    "react": "questions that need a tool or two: a calculation or quick script (python), current facts (web search)",
    "plan_execute": "multi-part requests that need several steps of research or tool use, then a combined answer",
    "ultrawork": "programming tasks: write, run and check code, data analysis, producing files or plots",
}


class AutoState(MessagesState, total=False):
    route: str
    route_reason: str


def _decision_model(names: list[str]) -> type[BaseModel]:
    """The router's output schema, its enum limited to the agents actually present."""
    choice: Any = Literal[tuple(names)]  # type: ignore[valid-type]
    return create_model(
        "RouteDecision",
        agent=(choice, Field(description="the assistant that should handle the latest message")),
        reason=(str, Field(default="", description="why, in a few words", json_schema_extra={"maxLength": 120})),
    )


def build_auto_graph(
    *,
    llm: BaseChatModel,
    subgraphs: dict[str, CompiledStateGraph[Any, Any, Any, Any]],
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    tool_calling: str = "native",
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the router over `subgraphs` (name → compiled graph, without a checkpointer of its
    own so it shares this graph's). The registry (`graphs.registry.build_graph("auto", ...)`)
    builds them; this module never imports another agent. `tools` is unused: the subgraphs
    carry their own."""
    del tools
    targets = [name for name in ROUTES if name in subgraphs]
    if FALLBACK not in targets:
        raise ValueError(f"auto needs at least the {FALLBACK!r} agent; got {sorted(subgraphs)}")
    with_client = [name for name in targets if name in CLIENT_TOOL_ROUTES]
    schemas = {False: _decision_model(targets), True: _decision_model(with_client)}
    listings = {
        key: "\n".join(f"- {name}: {AGENT_DESCRIPTIONS.get(name, name)}" for name in names)
        for key, names in ((False, targets), (True, with_client))
    }

    async def router(state: AutoState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        if is_auxiliary_prompt(last_user_text(state["messages"])):
            return {"route": FALLBACK, "route_reason": "auxiliary prompt from the front end"}
        route, reason = FALLBACK, "router gave no usable decision"
        theirs = bool(ctx.client_tools)  # the caller's tools: only agents that take them
        cued = None
        if tool_calling == "structured":  # a small model: the request's own words decide first
            cued = cue_route(last_user_text(state["messages"]), with_client if theirs else targets)
        if cued is not None:
            progress(f"Route: {cued[0]} ({cued[1]})", route=cued[0])
            return {"route": cued[0], "route_reason": cued[1]}
        try:
            model = configured_model(llm, ctx).with_structured_output(schemas[theirs])
            recent = visible_conversation(state["messages"], min(ctx.max_history, ROUTER_HISTORY))
            prompt = SystemMessage(render_prompt("auto", "router", agents=listings[theirs]))
            decision = await model.ainvoke([prompt, *recent], config=INTERNAL)
            agent = getattr(decision, "agent", None)
            if agent in (with_client if theirs else targets):
                route, reason = agent, getattr(decision, "reason", "") or ""
        except Exception:  # routing must never fail the request; chat can always answer
            log.warning("router failed; using %s", FALLBACK, exc_info=True)
        progress(f"Route: {route}" + (f" ({reason})" if reason else ""), route=route)
        return {"route": route, "route_reason": reason}

    def pick(state: AutoState) -> str:
        return state.get("route") or FALLBACK

    def after_agent(state: AutoState) -> str:
        return client.CLIENT_TOOLS if client.unanswered(state["messages"]) else END

    graph = StateGraph(AutoState, context_schema=AgentContext)
    graph.add_node("router", router)
    graph.add_node(client.CLIENT_TOOLS, client.client_tools_node)
    for name in targets:
        graph.add_node(name, subgraphs[name])
        if name in CLIENT_TOOL_ROUTES:
            graph.add_conditional_edges(name, after_agent, [client.CLIENT_TOOLS, END])
        else:
            graph.add_edge(name, END)
    graph.add_edge(START, "router")
    graph.add_conditional_edges("router", pick, targets)
    graph.add_conditional_edges(client.CLIENT_TOOLS, pick, with_client)
    return graph.compile(checkpointer=checkpointer, name="auto")
