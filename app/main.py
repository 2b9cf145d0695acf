"""The main app (port 10007): OpenAI-compatible API, auth, sessions; runs the agents.

`create_app(settings, *, llm=None, tools=None)`: tests inject a scripted chat model or
tool list; by default the LLM backend is resolved (DESIGN section 4) and the tools are
HTTP wrappers over the tools app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from app.api.routes import admin, auth, chat, embeddings, keys, models, responses, sessions, tools_proxy, web
from app.db import Database
from app.services.archive import TranscriptArchive
from app.services.cancellation import Cancellation
from app.services.checkpoints import open_checkpointer
from app.services.container import Services
from app.services.runner import Runner
from core.default_admin import check_default_admin
from core.errors import install_error_handlers
from core.health import Drain, install_health
from core.http import async_client
from core.limits import BodyLimitMiddleware, BodyLimits
from core.llm import LLMService, build_chat_model, resolve_backend
from core.metrics import MetricsMiddleware
from core.observability import RequestIdMiddleware, configure_logging
from core.private import make_private
from core.tracing import install_tracing
from graphs.registry import build_all, options_from_settings
from graphs.tools import build_tools
from settings import Settings, get_settings
from tools_service.client import ToolsClient

__all__ = ["create_app"]

log = logging.getLogger(__name__)

ROUTERS = (
    auth.router,
    chat.router,
    models.router,
    sessions.router,
    admin.router,
    keys.router,
    tools_proxy.router,
    web.router,
    embeddings.router,
    responses.router,
)


def _default_tools(settings: Settings, stack: AsyncExitStack) -> tuple[list[BaseTool], ToolsClient]:
    client = ToolsClient(settings.tools_url, settings.tools_key, timeout=settings.default_tool_timeout)
    stack.push_async_callback(client.aclose)
    return build_tools(client), client


def create_app(
    settings: Settings | None = None,
    *,
    llm: BaseChatModel | None = None,
    tools: list[BaseTool] | None = None,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    settings = (settings or get_settings()).ensure_secrets()
    make_private(settings.data_dir)
    drain = Drain()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.data_dir, "main", settings.log_level)
        async with AsyncExitStack() as stack:
            db = Database(settings)
            stack.push_async_callback(db.close)
            await db.init()
            await check_default_admin(db.engine, settings, settings.server_host, "main app")
            if llm is not None:
                service = LLMService.injected(llm, settings)
            else:
                info = await resolve_backend(settings)
                service = LLMService(info, build_chat_model(info, settings), settings)
                stack.push_async_callback(service.aclose)
            if tools is not None:
                tool_list, client = tools, None
            else:
                tool_list, client = _default_tools(settings, stack)
            checkpointer = await stack.enter_async_context(open_checkpointer(settings.checkpoint_db_url))
            graphs = build_all(
                llm=service.llm,
                tools=tool_list,
                checkpointer=checkpointer,
                options=options_from_settings(settings, service.info.name),
            )
            window = settings.checkpoint_window or max(2 * settings.max_conversation_history, 100)
            runner = Runner(graphs, service.info.name, service.run_callbacks(), archive=TranscriptArchive(db, window))
            cancellation = Cancellation(db, runner, poll=settings.cancel_poll_seconds)
            runner.lifecycle = cancellation
            await stack.enter_async_context(cancellation.running())
            app.state.services = Services(
                settings=settings,
                db=db,
                llm=service,
                graphs=graphs,
                runner=runner,
                tools=tool_list,
                tools_client=client,
                checkpointer=checkpointer,
                clock=clock or time.time,
                cancellation=cancellation,
            )
            drain.on_drain.append(lambda: cancellation.drain(settings.drain_grace_seconds))
            drain.install_sigterm()
            log.info("main app ready: agents %s, backend %s", ", ".join(graphs), service.info.name)
            yield
            drain.begin()
            await cancellation.drain(settings.drain_grace_seconds)

    app = FastAPI(title="LLM API", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits.from_settings(settings))
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware, name="main")
    install_error_handlers(app)
    install_tracing(app, "main")  # OTEL_ENABLED / OTEL_EXPORTER_OTLP_ENDPOINT (core/tracing.py)
    for router in ROUTERS:
        app.include_router(router)

    async def check_db() -> None:
        await app.state.services.db.ping()

    install_health(app, "main", drain, check_db)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        services: Services = app.state.services
        tools_ok = False
        try:
            async with async_client(timeout=2.0) as client:
                tools_ok = (await client.get(f"{settings.tools_url.rstrip('/')}/health")).status_code == 200
        except httpx.HTTPError:
            tools_ok = False
        info = services.llm.info
        return {
            "status": "ok",
            "backend": {
                "name": info.name,
                "model": info.model,
                "url": info.base_url,
                "reason": info.reason,
                "reachable": await services.llm.healthy(),
            },
            "tools": {"url": settings.tools_url, "reachable": tools_ok},
            "agents": list(services.graphs),
        }

    return app
