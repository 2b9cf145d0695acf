"""What the main app holds for its lifetime, built in the lifespan and kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool
from langgraph.graph.state import CompiledStateGraph

from app.db import Database
from app.services.runner import Runner
from core.llm import LLMService
from settings import Settings

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    db: Database
    llm: LLMService
    graphs: dict[str, CompiledStateGraph[Any, Any, Any, Any]]
    runner: Runner
    tools: list[BaseTool] = field(default_factory=list)
    tools_client: Any = None
    checkpointer: Any = None
