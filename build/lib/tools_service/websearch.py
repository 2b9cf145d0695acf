"""Web search through Tavily (`tavily-python`), turned into the tool envelope.

Every way a search can go wrong (no key, rate limit, bad key, timeout, outage, a malformed
reply) becomes a readable `success: false` result, so the agent can tell the user or carry
on without it; nothing here raises to the route.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from tavily import AsyncTavilyClient
from tavily.errors import (
    BadRequestError,
    ForbiddenError,
    InvalidAPIKeyError,
    UsageLimitExceededError,
)
from tavily.errors import TimeoutError as TavilyTimeout

from settings import Settings
from tools_service.envelope import ToolResult, fail, ok

__all__ = ["WebSearch", "NOT_CONFIGURED"]

log = logging.getLogger(__name__)

NOT_CONFIGURED = "web search is not configured: set TAVILY_API_KEY"
_SNIPPET_CHARS = 500


class WebSearch:
    """One Tavily client per tools app (it pools connections); `None` client = not configured."""

    def __init__(self, settings: Settings) -> None:
        self.depth = settings.tavily_search_depth
        self.timeout = settings.tavily_timeout
        key = settings.tavily_api_key.get_secret_value() if settings.tavily_api_key else ""
        self._client = AsyncTavilyClient(api_key=key, api_base_url=settings.tavily_base_url) if key else None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def search(self, query: str, max_results: int = 5, search_depth: str | None = None) -> ToolResult:
        if self._client is None:
            return fail(NOT_CONFIGURED, error="not_configured")
        depth = search_depth or self.depth
        try:
            reply = await self._client.search(
                query, search_depth=depth, max_results=max_results, include_answer=True, timeout=self.timeout
            )
        except UsageLimitExceededError as exc:
            return fail(f"web search rate limit or usage limit reached, try again later ({exc})", error="rate_limited")
        except InvalidAPIKeyError:
            return fail("web search is misconfigured: Tavily rejected TAVILY_API_KEY", error="invalid_key")
        except ForbiddenError as exc:
            return fail(f"web search was refused by Tavily: {exc or 'forbidden'}", error="forbidden")
        except BadRequestError as exc:
            return fail(f"web search rejected the query: {exc or 'bad request'}", error="bad_request")
        except TavilyTimeout:
            return fail(f"web search timed out after {self.timeout:g} s", error="timeout")
        except httpx.HTTPStatusError as exc:
            return fail(f"web search failed: Tavily answered HTTP {exc.response.status_code}", error="upstream")
        except httpx.HTTPError as exc:
            return fail(f"web search failed: {type(exc).__name__}: {exc}", error="unreachable")
        except Exception as exc:  # a malformed reply must not become a 500
            log.exception("tavily search failed")
            return fail(f"web search failed: {type(exc).__name__}", error="upstream")
        return self._envelope(query, reply, depth)

    @staticmethod
    def _envelope(query: str, reply: Any, depth: str) -> ToolResult:
        if not isinstance(reply, dict):
            return fail("web search failed: Tavily sent an unexpected reply", error="upstream")
        results = [
            {
                "title": str(item.get("title") or ""),
                "url": str(item.get("url") or ""),
                "content": str(item.get("content") or "")[:_SNIPPET_CHARS],
                "score": item.get("score"),
            }
            for item in reply.get("results") or []
            if isinstance(item, dict)
        ]
        answer = str(reply.get("answer") or "")
        lines = [answer] if answer else []
        lines += [f"[{i}] {r['title']} — {r['url']}\n{r['content']}" for i, r in enumerate(results, 1)]
        text = "\n\n".join(lines) or f"no results for {query!r}"
        data = {"query": query, "answer": answer, "results": results}
        return ok(text, data, search_depth=depth, response_time=reply.get("response_time"))
