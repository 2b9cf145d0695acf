"""Prometheus metrics shared by both apps: HTTP requests by route, runs in flight, LLM calls
by backend, sandbox runs and queue wait, RAG query latency.

With several workers per app each process counts on its own; set `PROMETHEUS_MULTIPROC_DIR`
(an empty directory per app, made before the workers start) and
`/metrics` then adds up every worker's files, so a scrape sees the whole app whichever
worker answers it.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HTTP_REQUESTS",
    "HTTP_LATENCY",
    "RUNS_IN_FLIGHT",
    "LLM_CALLS",
    "LLM_TOKENS",
    "LLM_LATENCY",
    "SANDBOX_RUNS",
    "SANDBOX_QUEUE_WAIT",
    "RAG_QUERY_LATENCY",
    "MetricsMiddleware",
    "render",
]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

HTTP_REQUESTS = Counter("llmapi_http_requests_total", "HTTP requests", ["app", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "llmapi_http_request_duration_seconds", "HTTP request latency", ["app", "method", "route"], buckets=_BUCKETS
)
RUNS_IN_FLIGHT = Gauge("llmapi_runs_in_flight", "Agent runs in progress", multiprocess_mode="livesum")
LLM_CALLS = Counter("llmapi_llm_calls_total", "LLM calls", ["backend", "outcome"])
LLM_TOKENS = Counter("llmapi_llm_tokens_total", "LLM tokens", ["backend", "kind"])
LLM_LATENCY = Histogram("llmapi_llm_call_duration_seconds", "LLM call latency", ["backend"], buckets=_BUCKETS)
SANDBOX_RUNS = Counter("llmapi_sandbox_runs_total", "Sandboxed code runs", ["outcome"])
SANDBOX_QUEUE_WAIT = Histogram(
    "llmapi_sandbox_queue_wait_seconds", "Time a sandbox run waited for a slot", buckets=_BUCKETS
)
RAG_QUERY_LATENCY = Histogram("llmapi_rag_query_duration_seconds", "RAG query latency", buckets=_BUCKETS)


def render() -> tuple[bytes, str]:
    """The exposition text: this process's metrics, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI (streaming-safe). The route label is the matched path template
    (`/api/chat/sessions/{session_id}`), never the raw path, so ids do not explode the series;
    a path no route matched counts as `unmatched`. Latency runs to the end of the body."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(self.name, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.name, method, route).observe(time.perf_counter() - started)
