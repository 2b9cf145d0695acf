"""The tools app (port 10006): runs every tool, never an agent.

One registry, `tools_service.contracts.TOOLS`, names every tool: for each name the app
loads `tools_service/routes/<name>.py` (its `router` and `SPECS`), and `/api/tools/list`
describes every tool from them. The agents' wrappers are built from the same registry's
contracts, so adding a tool is its contract, its route and one registry line
(docs/adding-a-tool.md).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from core.default_admin import check_default_admin
from core.errors import install_error_handlers
from core.health import Drain, install_health
from core.limits import BodyLimitMiddleware, BodyLimits
from core.metrics import MetricsMiddleware
from core.observability import RequestIdMiddleware, configure_logging
from core.private import make_private
from core.tracing import install_tracing
from settings import Settings, get_settings
from tools_service import contracts
from tools_service.auth import identity_store
from tools_service.deps import CurrentCaller

__all__ = ["create_app", "tool_modules"]

log = logging.getLogger(__name__)


# Each module exposes `router: APIRouter` and `SPECS: list[dict]` (its contracts' `spec()`),
# and optionally `async def startup(app)` / `async def shutdown(app)` / `describe(app)`.
def tool_modules() -> list[str]:
    """The route modules of the registry's tools (read when an app is created)."""
    return [f"tools_service.routes.{name}" for name in contracts.TOOLS]


# Service endpoints that are not tools the model can call (same module protocol, no SPECS).
SERVICE_MODULES: tuple[str, ...] = ("tools_service.routes.accounts", "tools_service.routes.embeddings")


def _load_modules() -> list[Any]:
    return [importlib.import_module(name) for name in [*tool_modules(), *SERVICE_MODULES]]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = (settings or get_settings()).ensure_secrets()
    make_private(settings.data_dir)
    modules = _load_modules()
    drain = Drain()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.data_dir, "tools", settings.log_level)
        await check_default_admin(identity_store(app).engine, settings, settings.tools_host, "tools app")
        for module in modules:
            if hasattr(module, "startup"):
                await module.startup(app)
        drain.install_sigterm()
        try:
            yield
        finally:
            drain.begin()
            for module in reversed(modules):
                if hasattr(module, "shutdown"):
                    await module.shutdown(app)
            if getattr(app.state, "identity", None) is not None:
                await app.state.identity.close()

    app = FastAPI(title="LLM API tools", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits.from_settings(settings))
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware, name="tools")
    install_error_handlers(app)
    install_tracing(app, "tools")  # OTEL_ENABLED / OTEL_EXPORTER_OTLP_ENDPOINT (core/tracing.py)

    async def check_db() -> None:  # accounts and API keys are read from the main app's database
        async with identity_store(app).engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    install_health(app, "tools", drain, check_db)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "service": "tools", "tools": [s["name"] for m in modules for s in m.SPECS]}

    @app.get("/api/tools/list", tags=["tools"])
    async def list_tools(request: Request, caller: CurrentCaller) -> dict[str, Any]:
        specs: list[dict[str, Any]] = []
        for module in modules:
            describe = getattr(module, "describe", None)
            specs.extend(describe(request.app) if describe else module.SPECS)
        return {"tools": specs}

    for module in modules:
        app.include_router(module.router)
    return app
