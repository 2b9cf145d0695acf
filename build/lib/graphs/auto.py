"""The `auto` agent: a router that picks `chat`, `react`, `plan_execute` or `ultrawork` and runs it.

The router (structured output) sees the recent visible conversation, not only the last
message, so follow-ups ("now plot it") stay with the agent that fits. The chosen agent runs
as a subgraph node; the agents are injected (`subgraphs=`, built by the registry), never
imported, so this module depends on none of them. When the router fails or answers something unusable, the request
goes to `chat`: the cheapest agent, and the one that never runs tools the user did not ask for.

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

from graphs.deps import INTERNAL, AgentContext, configured_model, context_of, progress
from graphs.housekeeping import is_auxiliary_prompt
from graphs.prompts import render_prompt
from graphs.text import last_user_text, visible_conversation

__all__ = ["AutoState", "ROUTES", "AGENT_DESCRIPTIONS", "build_auto_graph", "is_auxiliary_prompt"]

log = logging.getLogger(__name__)

ROUTES: tuple[str, ...] = ("chat", "react", "plan_execute", "ultrawork")
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
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the router over `subgraphs` (name → compiled graph, without a checkpointer of its
    own so it shares this graph's). The registry (`graphs.registry.build_graph("auto", ...)`)
    builds them; this module never imports another agent. `tools` is unused: the subgraphs
    carry their own."""
    del tools
    targets = [name for name in ROUTES if name in subgraphs]
    if FALLBACK not in targets:
        raise ValueError(f"auto needs at least the {FALLBACK!r} agent; got {sorted(subgraphs)}")
    decision_schema = _decision_model(targets)
    agents = "\n".join(f"- {name}: {AGENT_DESCRIPTIONS.get(name, name)}" for name in targets)

    async def router(state: AutoState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        if is_auxiliary_prompt(last_user_text(state["messages"])):
            return {"route": FALLBACK, "route_reason": "auxiliary prompt from the front end"}
        route, reason = FALLBACK, "router gave no usable decision"
        try:
            model = configured_model(llm, ctx).with_structured_output(decision_schema)
            recent = visible_conversation(state["messages"], min(ctx.max_history, ROUTER_HISTORY))
            prompt = SystemMessage(render_prompt("auto", "router", agents=agents))
            decision = await model.ainvoke([prompt, *recent], config=INTERNAL)
            agent = getattr(decision, "agent", None)
            if agent in targets:
                route, reason = agent, getattr(decision, "reason", "") or ""
        except Exception:  # routing must never fail the request; chat can always answer
            log.warning("router failed; using %s", FALLBACK, exc_info=True)
        progress(f"Route: {route}" + (f" ({reason})" if reason else ""), route=route)
        return {"route": route, "route_reason": reason}

    def pick(state: AutoState) -> str:
        return state.get("route") or FALLBACK

    graph = StateGraph(AutoState, context_schema=AgentContext)
    graph.add_node("router", router)
    for name in targets:
        graph.add_node(name, subgraphs[name])
        graph.add_edge(name, END)
    graph.add_edge(START, "router")
    graph.add_conditional_edges("router", pick, targets)
    return graph.compile(checkpointer=checkpointer, name="auto")
