"""One registry of agents for every door: the API, Python, notebooks and Studio.

Adding an agent is one line in `_FACTORIES` (plus its module). `auto` is special only
in that it receives the other agents as subgraphs instead of importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from graphs.chat import build_chat_graph

__all__ = ["AGENTS", "GraphFactory", "build_graph", "build_all"]

GraphFactory = Callable[..., CompiledStateGraph[Any, Any, Any, Any]]

_FACTORIES: dict[str, GraphFactory] = {
    "chat": build_chat_graph,
}

AGENTS: tuple[str, ...] = tuple(_FACTORIES)


def build_graph(
    name: str,
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    **options: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build agent `name` with the given model, tools and (optional) checkpointer."""
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
    options = options or {}
    return {
        name: build_graph(name, llm=llm, tools=tools, checkpointer=checkpointer, **options.get(name, {}))
        for name in AGENTS
    }
