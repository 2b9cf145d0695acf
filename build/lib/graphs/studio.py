"""The five agents as module-level graphs, for `langgraph.json` (`langgraph dev`, Studio).

This is the only module that builds graphs at import time, because that is what
`langgraph.json` points at. Nothing else imports it. The graphs are compiled without a
checkpointer (the LangGraph server brings its own). The model is the configured backend
(LLM_BACKEND and friends, as for the API), resolved when Studio loads this module; the
tools call the tools app at TOOLS_URL. If the backend cannot be resolved, the graphs
still load, with a model pointed at the configured URL, and runs report the error.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from core.llm import BackendInfo, build_chat_model, resolve_backend
from graphs.registry import build_all, options_from_settings
from settings import Settings, get_settings

__all__ = ["chat", "react", "plan_execute", "ultrawork", "auto", "studio_model", "studio_tools"]

log = logging.getLogger(__name__)


def studio_model(settings: Settings) -> tuple[BaseChatModel, str]:
    """The configured backend's chat model and backend name, resolved off the event loop that
    may be importing us."""
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            info = pool.submit(asyncio.run, resolve_backend(settings)).result()
    except Exception as exc:  # keep Studio usable: the graphs load, runs show the backend error
        url = settings.openai_base_url or f"{settings.llamacpp_host.rstrip('/')}/v1"
        log.error("LLM backend could not be resolved (%s); Studio graphs will call %s", exc, url)
        info = BackendInfo("openai", url, settings.openai_model or "default", f"fallback after: {exc}")
    return build_chat_model(info, settings), info.name


def studio_tools(settings: Settings) -> list[BaseTool]:
    """The agents' tools over the tools app at TOOLS_URL (absent tools app = tool errors, not import errors).

    Trust boundary: `langgraph dev` has no login and Studio's user edits the run's context
    freely, so the tools never act for the context's `user_id`: every call is pinned to
    the dedicated Studio user (`STUDIO_USER_ID`, default "studio") by the transport."""
    try:
        from graphs.tools import build_tools
        from tools_service.client import ToolsClient
    except ImportError as exc:  # pragma: no cover - the tools modules ship with the project
        log.warning("tools unavailable in Studio: %s", exc)
        return []
    from core.pinned import PinnedUserTransport

    client = ToolsClient(
        settings.tools_url,
        settings.tools_key,
        timeout=settings.default_tool_timeout,
        transport=PinnedUserTransport(settings.studio_user_id),
    )
    return build_tools(client)


def _build() -> dict[str, Any]:
    settings = get_settings()
    llm, backend = studio_model(settings)
    return build_all(llm=llm, tools=studio_tools(settings), options=options_from_settings(settings, backend))


_graphs = _build()
chat = _graphs["chat"]
react = _graphs["react"]
plan_execute = _graphs["plan_execute"]
ultrawork = _graphs["ultrawork"]
auto = _graphs["auto"]
