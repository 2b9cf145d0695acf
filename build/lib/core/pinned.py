"""An httpx transport that fixes the `X-User-Id` of every request, whatever the caller set.

For LangGraph Studio (`graphs/studio.py`): `langgraph dev` has no login, and the run's
context (which Studio's user edits freely) names the `user_id` the tools act for. With the
service key that would let anyone who reaches the dev server act as any user in the tools
app. Studio's tools therefore always act as one dedicated user (`STUDIO_USER_ID`).
"""

from __future__ import annotations

import httpx

__all__ = ["PinnedUserTransport"]


class PinnedUserTransport(httpx.AsyncBaseTransport):
    def __init__(self, user_id: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.user_id = user_id
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["X-User-Id"] = self.user_id
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
