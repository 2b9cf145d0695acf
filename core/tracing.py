"""OpenTelemetry tracing, off unless asked for (README "Running at scale").

On when `OTEL_ENABLED=true` or an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`
or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and the `otel` extra is installed. These are the
SDK's own variables, read from the process environment as the SDK itself reads them (with
`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, ...). Then each
app gets a server span per request (FastAPI instrumentation), every outgoing httpx call a
client span that carries `traceparent` (so the tools app's spans join the main app's trace,
and calls to the LLM backend show), and every agent run an `invoke_agent <name>` span
(OpenTelemetry's GenAI conventions). Off, nothing of OpenTelemetry is imported.

LangSmith tracing is separate: LangChain reads its own `LANGSMITH_TRACING`/`LANGSMITH_API_KEY`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from fastapi import FastAPI

__all__ = ["tracing_enabled", "install_tracing", "traced_run", "uninstall_tracing"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# The probes a load balancer polls every few seconds: no trace each.
EXCLUDED_URLS = "/health/live,/health/ready,/metrics"

_tracer: Any = None  # the agent-run tracer, once tracing is on in this process


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_ENABLED", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def install_tracing(app: FastAPI, service: str) -> bool:
    """Trace `app`'s requests and this process's httpx calls, when tracing is enabled.

    A tracer provider the process already has (set by `opentelemetry-instrument`, or by a
    test) is used as is; otherwise one exporting over OTLP/HTTP (or to the console with
    `OTEL_TRACES_EXPORTER=console`) is made the global one."""
    global _tracer
    if not tracing_enabled():
        return False
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    except ImportError:
        log.warning("tracing is enabled but OpenTelemetry is not installed: pip install 'llm-api[otel]'")
        return False
    provider = _provider(service)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)
    httpx_instrumentor = HTTPXClientInstrumentor()
    if not httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.instrument(tracer_provider=provider)
    _tracer = provider.get_tracer("llm_api")
    log.info("OpenTelemetry tracing on for the %s app", service)
    return True


def _provider(service: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    name = os.environ.get("OTEL_SERVICE_NAME") or f"llm-api-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def traced_run(run: Callable[[], Coroutine[Any, Any, T]], agent: str, thread_id: str) -> Coroutine[Any, Any, T]:
    """`run()` (one agent run) inside an `invoke_agent` span, so the model and tool calls it
    makes are the span's children; `run()` itself when tracing is off. A factory, not a
    coroutine: a run cancelled before it starts then leaves no never-awaited coroutine."""
    if _tracer is None:
        return run()
    return _in_span(run, agent, thread_id)


async def _in_span(run: Callable[[], Coroutine[Any, Any, T]], agent: str, thread_id: str) -> T:
    user, _, session = thread_id.partition(":")
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "gen_ai.conversation.id": session or thread_id,
        "enduser.id": user,
    }
    with _tracer.start_as_current_span(f"invoke_agent {agent}", attributes=attributes):
        return await run()


def uninstall_tracing() -> None:
    """Stop tracing httpx calls and agent runs in this process (tests; an embedding host)."""
    global _tracer
    _tracer = None
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    except ImportError:
        return
    if HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().uninstrument()
