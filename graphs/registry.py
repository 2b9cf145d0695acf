"""One registry of agents for every door: the API, Python, notebooks and Studio.

Adding an agent is one line in `_FACTORIES` (plus its module). `auto` is special only
in that it receives the other agents as subgraphs instead of importing them.

Limits are keyword arguments of the factories, passed per agent as `options`:
`react` and `ultrawork` take `max_iterations` (REACT_MAX_ITERATIONS,
ULTRAWORK_MAX_ITERATIONS), `plan_execute` takes `max_steps` (PLAN_MAX_STEPS) and
`max_iterations` (tool rounds per step); all default to 5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from graphs.auto import build_auto_graph
from graphs.chat import build_chat_graph
from graphs.plan_execute import build_plan_execute_graph
from graphs.react import build_react_graph
from graphs.ultrawork import build_ultrawork_graph

if TYPE_CHECKING:
    from settings import Settings

__all__ = ["AGENTS", "GraphFactory", "build_graph", "build_all", "options_from_settings"]

GraphFactory = Callable[..., CompiledStateGraph[Any, Any, Any, Any]]

_FACTORIES: dict[str, GraphFactory] = {
    "chat": build_chat_graph,
    "react": build_react_graph,
    "plan_execute": build_plan_execute_graph,
    "ultrawork": build_ultrawork_graph,
    "auto": build_auto_graph,
}

AGENTS: tuple[str, ...] = tuple(_FACTORIES)


def options_from_settings(settings: Settings) -> dict[str, dict[str, Any]]:
    """The per-agent limits for `build_all(options=...)`, from the settings (the API and Studio)."""
    return {
        "react": {"max_iterations": settings.react_max_iterations},
        "plan_execute": {"max_steps": settings.plan_max_steps},
        "ultrawork": {"max_iterations": settings.ultrawork_max_iterations},
    }


def build_graph(
    name: str,
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    **options: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build agent `name` with the given model, tools and (optional) checkpointer.

    `options` are the factory's limits (see the module docstring); for `auto`, also
    `subgraphs=` (prebuilt agents) or `options=` (per-agent limits for the ones it builds).
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
) -> dict[str, CompiledStateGraph[Any, Any, Any, Any]]:
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
