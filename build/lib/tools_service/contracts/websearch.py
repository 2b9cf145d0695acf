"""websearch's contract: a web search through the tools app (Tavily)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools_service.contracts.base import ToolContract

__all__ = ["WebSearchArgs", "WebSearchRequest", "WEBSEARCH", "CONTRACTS"]


class WebSearchArgs(BaseModel):
    query: str = Field(min_length=1, max_length=2000, description="What to search for.")
    max_results: int = Field(default=5, ge=1, le=20, description="How many results.")
    search_depth: Literal["basic", "advanced"] | None = Field(default=None, description="Search depth.")


WebSearchRequest = WebSearchArgs  # the model fills the whole body; the user comes from the token

WEBSEARCH = ToolContract(
    name="websearch",
    description=(
        "Search the web for current information. Returns an answer summary and the top results "
        "(title, URL, snippet). Use for facts that may have changed or that you do not know."
    ),
    path="/api/tools/websearch",
    args=WebSearchArgs,
)

CONTRACTS = (WEBSEARCH,)
