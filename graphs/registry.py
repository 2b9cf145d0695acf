"""One registry of agents for every door: the API, Python, notebooks and Studio.

Adding an agent is one line in `_FACTORIES` (plus its module). Agents never import each
other: the two that compose others get them from here. `plan_execute` receives its step
executor (a ReAct loop compiled for internal use) and `auto` its subgraphs.

Limits are keyword arguments of the factories, passed per agent as `options`:
`react` and `ultrawork` take `max_iterations` (REACT_MAX_ITERATIONS,
ULTRAWORK_MAX_ITERATIONS), `plan_execute` takes `max_steps` (PLAN_MAX_STEPS) and
`max_iterations` (tool rounds per step); all default to 5. `react` and `plan_execute` also
take `tool_calling` (`native` or `structured`, see `graphs.decisions`), which
`options_from_settings` picks per backend from TOOL_CALLING_MODE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from core.llm import tool_calling_mode
from graphs.auto import CLIENT_TOOL_ROUTES, ROUTES, build_auto_graph
from graphs.chat import build_chat_graph
from graphs.decisions import ToolCalling
from graphs.plan_execute import build_plan_execute_graph
from graphs.react import build_react_graph
from graphs.ultrawork import build_ultrawork_graph

if TYPE_CHECKING:
    from settings import Settings

__all__ = ["AGENTS", "CLIENT_TOOL_AGENTS", "GraphFactory", "build_graph", "build_all", "options_from_settings"]

Graph = CompiledStateGraph[Any, Any, Any, Any]
GraphFactory = Callable[..., Graph]


def _plan_execute(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool],
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    max_steps: int = 5,
    max_iterations: int = 5,
    tool_calling: ToolCalling = "native",
) -> Graph:
    # checkpointer=False: a step's inner loop is not checkpointed on its own; its result is, in
    # `past_steps`, at the parent's next super-step. That halves the checkpoint writes per turn.
    executor = build_react_graph(
        llm=llm,
        tools=tools,
        checkpointer=False,
        max_iterations=max_iterations,
        internal=True,
        name="plan_step",
        tool_calling=tool_calling,
    )
    return build_plan_execute_graph(
        llm=llm, tools=tools, checkpointer=checkpointer, executor=executor, max_steps=max_steps
    )


def _auto(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool],
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    subgraphs: dict[str, Graph] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    tool_calling: ToolCalling = "native",
) -> Graph:
    # The subgraphs get no checkpointer: they checkpoint inside auto's thread (one with its
    # own saver would not).
    # `chat` and `react` end the run at a client tool call (`pause=False`): auto pauses itself.
    if subgraphs is None:
        subgraphs = {}
        for name in ROUTES:
            opts: dict[str, Any] = dict((options or {}).get(name, {}))
            if name in CLIENT_TOOL_ROUTES:
                opts["pause"] = False
            subgraphs[name] = build_graph(name, llm=llm, tools=tools, **opts)
    return build_auto_graph(llm=llm, subgraphs=subgraphs, checkpointer=checkpointer, tool_calling=tool_calling)


_FACTORIES: dict[str, GraphFactory] = {
    "chat": build_chat_graph,
    "react": build_react_graph,
    "plan_execute": _plan_execute,
    "ultrawork": build_ultrawork_graph,
    "auto": _auto,
}

AGENTS: tuple[str, ...] = tuple(_FACTORIES)
# The agents that take the API caller's own tools (graphs.client_tools); the others refuse them.
CLIENT_TOOL_AGENTS: tuple[str, ...] = (*CLIENT_TOOL_ROUTES, "auto")


def options_from_settings(settings: Settings, backend: str = "") -> dict[str, dict[str, Any]]:
    """The per-agent options for `build_all(options=...)`, from the settings (the API and Studio).

    `backend` is the resolved backend's name (`core.llm.BackendInfo.name`); with
    TOOL_CALLING_MODE=auto it decides between native and structured tool calling.
    """
    mode = tool_calling_mode(settings, backend)
    return {
        "react": {"max_iterations": settings.react_max_iterations, "tool_calling": mode},
        "plan_execute": {"max_steps": settings.plan_max_steps, "tool_calling": mode},
        "ultrawork": {"max_iterations": settings.ultrawork_max_iterations},
        "auto": {"tool_calling": mode},
    }


def build_graph(
    name: str,
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    **options: Any,
) -> Graph:
    """Build agent `name` with the given model, tools and (optional) checkpointer.

    `options` are the factory's limits (see the module docstring); for `auto`, also
    `subgraphs=` (prebuilt agents) or `options=` (per-agent options for the ones it builds).
    """
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown agent {name!r}; known: {', '.join(AGENTS)}") from None
    return factory(llm=llm, tools=list(tools or []), checkpointer=checkpointer, **options)


def build_all(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Graph]:
    """Every agent, sharing one model, tool list and checkpointer.

    `auto` builds its own copies of the other agents (same `options`), compiled without a
    checkpointer so that they checkpoint inside auto's thread (a subgraph with its own saver would not).
    """
    options = options or {}
    graphs = {
        name: build_graph(name, llm=llm, tools=tools, checkpointer=checkpointer, **options.get(name, {}))
        for name in AGENTS
        if name != "auto"
    }
    graphs["auto"] = build_graph(
        "auto", llm=llm, tools=tools, checkpointer=checkpointer, options=options, **options.get("auto", {})
    )
    return graphs
