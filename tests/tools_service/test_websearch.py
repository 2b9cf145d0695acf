"""websearch over real HTTP: the tools app calls a local fake of Tavily's HTTP API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import serve_app
from tests.tools_service.conftest import ToolsAppFactory
from tests.tools_service.fake_tavily import FAKE_KEY, fake_tavily_app

SEARCH = "/api/tools/websearch"


@pytest.fixture
def tavily() -> Iterator[tuple[str, list[dict]]]:
    app = fake_tavily_app(slow_seconds=3.0)
    with serve_app(app) as url:
        yield url, app.state.requests


def test_without_a_key_search_is_not_configured(tools_app_factory: ToolsAppFactory) -> None:
    with tools_app_factory(tavily_api_key=None) as app, app.user("alice") as alice:
        resp = alice.post(SEARCH, json={"query": "weather"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is False
    assert body["answer"] == "web search is not configured: set TAVILY_API_KEY"


def test_search_returns_titles_urls_snippets_and_an_answer(
    tools_app_factory: ToolsAppFactory, tavily: tuple[str, list[dict]]
) -> None:
    url, requests = tavily
    with tools_app_factory(tavily_api_key=FAKE_KEY, tavily_base_url=url, tavily_search_depth="basic") as app:
        with app.user("alice") as alice:
            body = alice.post(SEARCH, json={"query": "langgraph", "max_results": 3}).json()
    assert body["success"] is True, body
    data = body["data"]
    assert data["answer"] == "The answer about langgraph."
    assert [r["url"] for r in data["results"]] == [f"https://example.com/{i}" for i in (1, 2, 3)]
    assert data["results"][0]["title"] == "Result 1 for langgraph"
    assert data["results"][0]["content"] == "Snippet 1 about langgraph."
    assert "The answer about langgraph." in body["answer"] and "https://example.com/2" in body["answer"]
    sent = requests[-1]
    assert sent["authorization"] == f"Bearer {FAKE_KEY}"
    assert sent["body"]["query"] == "langgraph" and sent["body"]["max_results"] == 3
    assert sent["body"]["search_depth"] == "basic" and sent["body"]["include_answer"] is True


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("rate-limit", "rate limit"),
        ("bad-request", "rejected the query: Query is too long"),
        ("server-error", "HTTP 500"),
        ("garbage", "web search failed"),
        ("slow", "timed out after 0.5 s"),
    ],
)
def test_tavily_failures_are_readable_tool_failures(
    tools_app_factory: ToolsAppFactory, tavily: tuple[str, list[dict]], query: str, expected: str
) -> None:
    url, _ = tavily
    with tools_app_factory(tavily_api_key=FAKE_KEY, tavily_base_url=url, tavily_timeout=0.5) as app:
        with app.user("alice") as alice:
            resp = alice.post(SEARCH, json={"query": query})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["success"] is False and expected in body["answer"], body
            assert alice.post(SEARCH, json={"query": "still works"}).json()["success"] is True


def test_a_wrong_key_is_reported_as_misconfiguration(
    tools_app_factory: ToolsAppFactory, tavily: tuple[str, list[dict]]
) -> None:
    url, _ = tavily
    with tools_app_factory(tavily_api_key="tvly-wrong", tavily_base_url=url) as app, app.user("alice") as alice:
        body = alice.post(SEARCH, json={"query": "x"}).json()
    assert body["success"] is False and "TAVILY_API_KEY" in body["answer"]


def test_tavily_down_is_a_readable_failure(tools_app_factory: ToolsAppFactory) -> None:
    with tools_app_factory(tavily_api_key=FAKE_KEY, tavily_base_url="http://127.0.0.1:9") as app:
        with app.user("alice") as alice:
            body = alice.post(SEARCH, json={"query": "x"}).json()
    assert body["success"] is False and body["answer"].startswith("web search failed")


@pytest.mark.parametrize(
    "payload", [{}, {"query": ""}, {"query": "x", "max_results": 0}, {"query": "x", "search_depth": "deep"}]
)
def test_bad_search_requests_are_4xx(tools_app_factory: ToolsAppFactory, payload: dict) -> None:
    with tools_app_factory() as app, app.user("alice") as alice:
        resp = alice.post(SEARCH, json=payload)
    assert resp.status_code == 422 and resp.json()["error"]["message"]
