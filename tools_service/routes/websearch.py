"""websearch: `POST /api/tools/websearch` over Tavily (see `tools_service.websearch`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from settings import Settings
from tools_service.auth import CurrentCaller
from tools_service.envelope import ToolResult
from tools_service.websearch import WebSearch

__all__ = ["router", "SPECS", "startup", "shutdown"]

router = APIRouter(prefix="/api/tools/websearch", tags=["websearch"])

SPECS: list[dict[str, Any]] = [
    {
        "name": "websearch",
        "description": (
            "Search the web for current information. Returns an answer summary and the top results "
            "(title, URL, snippet). Use for facts that may have changed or that you do not know."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to search for."},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 20, "description": "How many results."},
                "search_depth": {"type": "string", "enum": ["basic", "advanced"], "description": "Search depth."},
            },
            "required": ["query"],
        },
        "context": ["user_id"],
    }
]


class WebSearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    max_results: int = Field(default=5, ge=1, le=20)
    search_depth: Literal["basic", "advanced"] | None = None


async def startup(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.websearch = WebSearch(settings)


async def shutdown(app: FastAPI) -> None:
    search: WebSearch | None = getattr(app.state, "websearch", None)
    if search is not None:
        await search.aclose()


@router.post("", response_model=ToolResult)
async def websearch(body: WebSearchRequest, request: Request, caller: CurrentCaller) -> ToolResult:
    search: WebSearch = request.app.state.websearch
    result = await search.search(body.query.strip(), body.max_results, body.search_depth)
    result.metadata["user_id"] = caller.user_id
    return result
