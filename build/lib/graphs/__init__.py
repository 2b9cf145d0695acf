"""LLM API agents as LangGraph graphs: `from graphs import build_graph`."""

from graphs.deps import AgentContext
from graphs.registry import AGENTS, build_all, build_graph

__all__ = ["AGENTS", "AgentContext", "build_all", "build_graph"]
