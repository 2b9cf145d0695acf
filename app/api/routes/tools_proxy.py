"""`/api/tools/...` on the main app's port: the tools app's user-facing endpoints (RAG,
workspace files, python_coder, websearch) for authenticated users, so users and the web
chat need one port only. The tools app stays reachable directly for services.

The caller is identified here (token or API key) and forwarded as the user the main app
vouches for; a path outside `tools_proxy.ALLOWED` is a 404. The database session used to
identify the caller is closed before forwarding, so a long upload or tool run holds no
pooled connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Request
from starlette.responses import StreamingResponse

from app.api.deps import ServicesDep, get_current_user
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


@router.api_route("/{path:path}", methods=_METHODS, summary="The tools app's user endpoints, as the caller")
async def proxy(
    path: str,
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Forwards `/api/tools/{path}` to the tools app (see docs/rag.md and docs/tools.md for
    each endpoint): RAG collections, documents, upload and query; python_coder runs and
    workspace files; websearch; the tool list."""
    async with services.db.session() as db:
        user = await get_current_user(services, db, authorization)
    if not tools_proxy.allowed(request.method, path):
        raise APIError(404, f"no tools endpoint {request.method} /api/tools/{path}", code="not_found")
    settings = services.settings
    target = tools_proxy.ProxyTarget(settings.tools_url, settings.tools_key)
    http = request.app.state.tools_proxy_http
    return await tools_proxy.forward(http, target, request, path, user.id)
