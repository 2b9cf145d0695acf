"""websearch: `POST /api/tools/websearch` over Tavily (see `tools_service.websearch`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from settings import Settings
from tools_service.contracts.websearch import WEBSEARCH, WebSearchRequest
from tools_service.deps import CurrentCaller, WebSearchDep
from tools_service.envelope import ToolResult
from tools_service.websearch import WebSearch

__all__ = ["router", "SPECS", "startup", "shutdown"]

router = APIRouter(prefix="/api/tools/websearch", tags=["websearch"])

# What /api/tools/list publishes, from the contract the body is validated with.
SPECS: list[dict[str, Any]] = [WEBSEARCH.spec()]


async def startup(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.websearch = WebSearch(settings)


async def shutdown(app: FastAPI) -> None:
    search: WebSearch | None = getattr(app.state, "websearch", None)
    if search is not None:
        await search.aclose()


@router.post("", response_model=ToolResult)
async def websearch(body: WebSearchRequest, caller: CurrentCaller, search: WebSearchDep) -> ToolResult:
    result = await search.search(body.query.strip(), body.max_results, body.search_depth)
    result.metadata["user_id"] = caller.user_id
    return result
