"""Liveness, readiness and Prometheus metrics on both apps, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from core.health import Drain, install_health
from tests.integration.conftest import serve_platform
from tests.scripted_llm import ScriptedLLM
from tests.servers import serve_app


def _samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = httpx.get(url + "/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_both_apps_report_health_and_metrics(data_dir: Path, llm_server: ScriptedLLM) -> None:
    with serve_platform(data_dir, llm_server, with_tools=True) as p:
        tools_url = p.settings.tools_url
        for url, name in ((p.url, "main"), (tools_url, "tools")):
            assert httpx.get(url + "/health/live").json() == {"status": "ok", "service": name}
            assert httpx.get(url + "/health/ready").json() == {"status": "ready", "service": name}

        route = dict(name="llmapi_http_requests_total", app="main", method="POST", route="/v1/chat/completions")
        before = _samples(p.url)
        llm_server.push("metered answer")
        resp = httpx.post(
            p.v1 + "/chat/completions",
            headers=p.headers(),
            json={"model": "chat", "messages": [{"role": "user", "content": "count me"}]},
            timeout=30,
        )
        assert resp.status_code == 200
        after = _samples(p.url)
        name = route.pop("name")
        assert _value(after, name, **route, status="200") == _value(before, name, **route, status="200") + 1
        calls = dict(backend="openai", outcome="ok")
        assert _value(after, "llmapi_llm_calls_total", **calls) == _value(before, "llmapi_llm_calls_total", **calls) + 1
        tokens = _value(after, "llmapi_llm_tokens_total", backend="openai", kind="output")
        assert tokens > _value(before, "llmapi_llm_tokens_total", backend="openai", kind="output")
        # The gauge is process-wide (other tests' apps share it): this run added nothing to it.
        assert _value(after, "llmapi_runs_in_flight") == _value(before, "llmapi_runs_in_flight")
        # An unknown path is counted under one label, not under its raw path.
        httpx.get(p.url + "/no/such/path/123")
        unmatched = _samples(p.url)
        assert (
            _value(unmatched, "llmapi_http_requests_total", app="main", method="GET", route="unmatched", status="404")
            >= 1
        )
        assert not any("/no/such/path/123" in str(labels) for _, labels in unmatched)
        tools = _samples(tools_url)
        assert (
            _value(tools, "llmapi_http_requests_total", app="tools", method="GET", route="/health/ready", status="200")
            >= 1
        )


def test_readiness_is_false_while_draining_or_without_a_database() -> None:
    app = FastAPI()
    drain = Drain()
    db_up = {"ok": True}

    async def check_db() -> None:
        if not db_up["ok"]:
            raise ConnectionError("database down")

    install_health(app, "main", drain, check_db)
    with serve_app(app) as url:
        assert httpx.get(url + "/health/ready").status_code == 200
        db_up["ok"] = False
        assert httpx.get(url + "/health/ready").status_code == 503
        assert httpx.get(url + "/health/live").status_code == 200  # alive: a restart would not help
        db_up["ok"] = True
        assert httpx.get(url + "/health/ready").status_code == 200
        drain.draining = True
        resp = httpx.get(url + "/health/ready")
        assert resp.status_code == 503 and resp.json()["status"] == "draining"
