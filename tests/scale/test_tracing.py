"""OpenTelemetry tracing (core/tracing.py), with the SDK's in-memory exporter: one chat turn
that calls a tool is one trace, from the main app's request through the agent run and its
model call to the tools app's request, over real HTTP between the apps. Off by default, with
nothing of the instrumentation loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.tracing import uninstall_tracing
from tests.integration.conftest import serve_platform
from tests.scripted_llm import Reply, ScriptedLLM, tool_call

pytest.importorskip("opentelemetry.sdk.trace", reason="the `otel` extra is not installed")
pytest.importorskip("opentelemetry.instrumentation.fastapi", reason="the `otel` extra is not installed")
pytest.importorskip("opentelemetry.instrumentation.httpx", reason="the `otel` extra is not installed")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (made global once, as `opentelemetry-instrument` would)
    with an in-memory exporter; tracing switched on the way an operator does it."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setenv("OTEL_ENABLED", "true")
    try:
        yield memory
    finally:
        memory.shutdown()  # later spans (other tests) are dropped
        uninstall_tracing()


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def _one(spans: list[ReadableSpan], **match: Any) -> ReadableSpan:
    found = [s for s in spans if all(_attr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(s.name, dict(s.attributes or {})) for s in spans])
    return found[0]


def _url(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url") or "")  # new or old conventions


def _attr(span: ReadableSpan, key: str) -> Any:
    return {"name": span.name, "kind": span.kind}.get(key, (span.attributes or {}).get(key.replace("__", ".")))


def test_a_tool_calling_turn_is_one_trace_across_both_apps(
    exporter: InMemorySpanExporter, data_dir: Path, llm_server: ScriptedLLM
) -> None:
    with serve_platform(data_dir, llm_server, with_tools=True) as p:
        token = p.signup("tracy")
        exporter.clear()  # only the chat turn from here
        llm_server.push(Reply(tool_calls=[tool_call("websearch", {"query": "weather"}, "call_1")]), "Sunny.")
        resp = httpx.post(
            p.v1 + "/chat/completions",
            headers={**p.headers(token), "X-Session-Id": "trip"},
            json={"model": "react", "messages": [{"role": "user", "content": "weather?"}]},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["choices"][0]["message"]["content"] == "Sunny."
        tools_url, llm_url = p.settings.tools_url, llm_server.url
    spans = list(exporter.get_finished_spans())
    by_id = {s.context.span_id: s for s in spans}

    main = _one(spans, kind=SpanKind.SERVER, http__route="/v1/chat/completions")
    agent = _one(spans, name="invoke_agent react")
    assert agent.attributes is not None
    assert agent.attributes["gen_ai.agent.name"] == "react"
    assert agent.attributes["gen_ai.conversation.id"] == "trip"
    tools = _one(spans, kind=SpanKind.SERVER, http__route="/api/tools/websearch")
    assert {main.context.trace_id, agent.context.trace_id, tools.context.trace_id} == {main.context.trace_id}

    assert main in _ancestors(agent, by_id)
    # The tools app's request continues the trace it was sent: its parent is the main app's
    # httpx client span (a remote parent, propagated by `traceparent`), inside the agent run.
    assert tools.parent is not None and tools.parent.is_remote
    client = by_id[tools.parent.span_id]
    assert client.kind == SpanKind.CLIENT and _url(client).startswith(tools_url)
    assert agent in _ancestors(tools, by_id)
    # The model calls are the agent run's children too (the openai SDK's httpx requests).
    llm_calls = [s for s in spans if s.kind == SpanKind.CLIENT and _url(s).startswith(llm_url)]
    assert len(llm_calls) == 2 and all(agent in _ancestors(s, by_id) for s in llm_calls)


def test_off_by_default_and_nothing_of_the_instrumentation_loaded(tmp_path: Path) -> None:
    """Without OTEL_ENABLED or an OTLP endpoint the apps carry no tracing middleware and
    never import the instrumentation or an exporter (a fresh interpreter, to see its imports)."""
    code = (
        "import sys\n"
        "from tests.conftest import make_settings\n"
        "from app.main import create_app\n"
        "from tools_service.main import create_app as create_tools_app\n"
        f"apps = [create_app(make_settings({str(tmp_path)!r})), create_tools_app(make_settings({str(tmp_path)!r}))]\n"
        "assert not [m for a in apps for m in a.user_middleware if 'OpenTelemetry' in str(m)], 'middleware'\n"
        "prefixes = ('opentelemetry.instrumentation', 'opentelemetry.exporter')\n"
        "loaded = [m for m in sys.modules if m.startswith(prefixes)]\n"
        "assert not loaded, loaded\n"
        "print('untraced')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "untraced", out.stderr[-2000:]
