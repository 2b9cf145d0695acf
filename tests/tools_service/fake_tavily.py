"""A local stand-in for Tavily's HTTP API (`POST /search`), since tests have no network.

It speaks the request and reply shapes tavily-python uses, checks the bearer key, records
what it was sent, and misbehaves on demand, chosen by the query text: "rate-limit" → 429,
"bad-request" → 400, "server-error" → 500, "slow" → answers after `slow_seconds`,
"garbage" → a reply that is not JSON.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

__all__ = ["fake_tavily_app", "FAKE_KEY"]

FAKE_KEY = "tvly-test-key"


def fake_tavily_app(slow_seconds: float = 3.0) -> FastAPI:
    app = FastAPI()
    app.state.requests = []

    @app.post("/search")
    async def search(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        app.state.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        if request.headers.get("authorization") != f"Bearer {FAKE_KEY}":
            return JSONResponse({"detail": {"error": "Unauthorized: missing or invalid API key."}}, status_code=401)
        query = str(body.get("query", ""))
        if "rate-limit" in query:
            return JSONResponse({"detail": {"error": "Rate limit exceeded"}}, status_code=429)
        if "bad-request" in query:
            return JSONResponse({"detail": {"error": "Query is too long"}}, status_code=400)
        if "server-error" in query:
            return PlainTextResponse("internal error", status_code=500)
        if "garbage" in query:
            return PlainTextResponse("<html>not json</html>", status_code=200)
        if "slow" in query:
            await asyncio.sleep(slow_seconds)
        n = int(body.get("max_results") or 5)
        results = [
            {
                "title": f"Result {i} for {query}",
                "url": f"https://example.com/{i}",
                "content": f"Snippet {i} about {query}.",
                "score": 1.0 - i / 10,
            }
            for i in range(1, n + 1)
        ]
        answer = f"The answer about {query}." if body.get("include_answer") else None
        return JSONResponse({"query": query, "answer": answer, "results": results, "response_time": 0.01})

    return app
