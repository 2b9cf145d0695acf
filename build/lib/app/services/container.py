"""What the main app holds for its lifetime, built in the lifespan and kept on `app.state`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from app.db import Database
from app.services.cancellation import Cancellation
from app.services.runner import Runner
from core.llm import LLMService
from settings import Settings
from tools_service.client import ToolsClient

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    db: Database
    llm: LLMService
    graphs: dict[str, CompiledStateGraph[Any, Any, Any, Any]]
    runner: Runner
    tools: list[BaseTool] = field(default_factory=list)
    # None when the app was given its tools (tests, notebooks) instead of reaching the tools app.
    tools_client: ToolsClient | None = None
    checkpointer: BaseCheckpointSaver[Any] | None = None
    # Wall-clock seconds for time-window rules (login throttling); tests inject a manual clock.
    clock: Callable[[], float] = time.time
    # Cross-replica cancel and drain (issue 14); None only in apps built without a lifespan.
    cancellation: Cancellation | None = None
