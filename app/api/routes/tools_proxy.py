"""`/api/tools/...` on the main app's port: the tools app's user-facing endpoints (RAG,
workspace files, python_coder, websearch) for authenticated users, so users and the web
chat need one port only. The tools app stays reachable directly for services.

The caller is identified here (token or API key) and forwarded as the user the main app
vouches for; a path outside `tools_proxy.ALLOWED` is a 404. `CurrentUser` reads the
database in its own short transaction, so a long upload or tool run holds no pooled
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import StreamingResponse

from app.api.deps import CurrentUser, ServicesDep
from app.services import tools_proxy
from core.errors import APIError
from settings import Settings


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with tools_proxy.open_client(settings.default_tool_timeout) as http:
        app.state.tools_proxy_http = http
        yield


router = APIRouter(prefix="/api/tools", tags=["tools"], lifespan=_lifespan)

_METHODS = ["GET", "POST", "DELETE"]


async def proxy(
    path: str,
    request: Request,
    services: ServicesDep,
    user: CurrentUser,
) -> StreamingResponse:
    """Forwards `/api/tools/{path}` to the tools app (see docs/rag.md and docs/tools.md for
    each endpoint): RAG collections, documents, upload and query; python_coder runs and
    workspace files; websearch; the tool list."""
    if not tools_proxy.allowed(request.method, path):
        raise APIError(404, f"no tools endpoint {request.method} /api/tools/{path}", code="not_found")
    settings = services.settings
    target = tools_proxy.ProxyTarget(settings.tools_url, settings.tools_key)
    http = request.app.state.tools_proxy_http
    return await tools_proxy.forward(http, target, request, path, user.id)


# One route per method, each with its own operation id: one route for all three would give
# OpenAPI clients (and schemathesis) three operations with the same id.
for _method in _METHODS:
    router.add_api_route(
        "/{path:path}",
        proxy,
        methods=[_method],
        operation_id=f"tools_proxy_{_method.lower()}",
        summary=f"{_method} a tools app user endpoint, as the caller",
    )
