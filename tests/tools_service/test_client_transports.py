"""`ToolsClient` through httpx's injection seams: `ASGITransport` against the real tools app
in-process (no sockets), and `MockTransport` for the replies a real app rarely gives
(timeouts, 5xx, unreadable bodies). The real-HTTP tests are in test_client.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from settings import Settings
from tests.conftest import make_settings
from tests.tools_service.conftest import requires_bwrap
from tools_service.client import ToolsClient, ToolsClientError
from tools_service.contracts.python_coder import PythonCoderRequest
from tools_service.main import create_app

# -- the real app, in-process ---------------------------------------------------------------


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def asgi_client(settings: Settings) -> AsyncIterator[ToolsClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with ToolsClient("http://tools", settings.tools_key, timeout=60, transport=transport) as client:
            yield client


@requires_bwrap
async def test_asgi_round_trip_with_the_real_app(asgi_client: ToolsClient, settings: Settings) -> None:
    assert await asgi_client.health() is True
    assert (await asgi_client.upload_file("dave", "s1", "in/n.txt", b"20 22")).success
    run = await asgi_client.python_coder("dave", "s1", "print(sum(map(int, open('in/n.txt').read().split())))")
    assert run.success and run.data["stdout"] == "42\n" and run.metadata["session_id"] == "s1", run
    # The workspace is dave's own, named by the service identity, not by anything in the body.
    assert (settings.data_dir / "scratch" / "dave" / "s1" / "in" / "n.txt").read_bytes() == b"20 22"
    assert await asgi_client.read_file("dave", "s1", "in/n.txt") == b"20 22"
    assert [f["name"] for f in (await asgi_client.list_files("dave", "s1")).data["files"]] == ["in/n.txt"]
    assert (await asgi_client.delete_file("dave", "s1", "in/n.txt")).success
    assert (await asgi_client.list_files("dave", "s1")).data["files"] == []


async def test_asgi_tool_calls_follow_the_contracts(asgi_client: ToolsClient) -> None:
    names = {t["name"] for t in await asgi_client.list_tools()}
    assert names == {"python_coder", "websearch", "rag_query", "rag_list_collections"}
    search = await asgi_client.websearch("dave", "anything", max_results=3)
    assert search.success is False and "TAVILY_API_KEY" in search.answer
    listed = await asgi_client.rag_list_collections("dave")
    assert listed.success and listed.data["collections"] == []
    missing = await asgi_client.rag_query("dave", "nope", "anything", top_k=3)
    assert missing.success is False and "not found" in missing.answer and missing.metadata["status"] == 404
    # A limit the contract sets is enforced by the route: a readable rejection, not an exception.
    too_many = await asgi_client.websearch("dave", "x", max_results=21)
    assert too_many.success is False and too_many.metadata["status"] == 422 and "max_results" in too_many.answer
    with pytest.raises(ToolsClientError) as err:
        await asgi_client.read_file("dave", "s1", "absent.txt")
    assert err.value.status == 404


# -- scripted replies ----------------------------------------------------------------------


def mock_client(handler: Callable[[httpx.Request], httpx.Response], timeout: float = 30) -> ToolsClient:
    return ToolsClient("http://tools", "service-key", timeout=timeout, transport=httpx.MockTransport(handler))


async def test_requests_carry_the_service_key_the_user_and_the_contract_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "answer": "ok"})

    async with mock_client(handler, timeout=30) as client:
        assert (await client.python_coder("erin", "chat-3", "print(1)", timeout=100)).success
        assert (await client.rag_list_collections("erin")).success
        assert (await client.websearch("erin", "q")).success
    run, listing, search = seen
    assert run.method == "POST" and run.url.path == "/api/tools/python_coder"
    assert run.headers["X-API-Key"] == "service-key" and run.headers["X-User-Id"] == "erin"
    body = json.loads(run.content)
    assert body == {"code": "print(1)", "timeout": 100, "session_id": "chat-3"}
    PythonCoderRequest.model_validate(body)  # what the route will accept
    # A run asked to last 100 s gets that plus slack, beyond the client's 30 s default.
    assert run.extensions["timeout"]["read"] == 115
    assert listing.method == "GET" and listing.url.path == "/api/tools/rag/collections" and not listing.content
    assert json.loads(search.content) == {"query": "q"}  # unset options are left to the route's defaults
    assert search.extensions["timeout"]["read"] == 30


@pytest.mark.parametrize(
    ("reply", "answer", "metadata"),
    [
        (
            httpx.Response(503, json={"error": {"message": "retrieval failed (OSError)", "type": "x"}}),
            "tool request rejected: retrieval failed (OSError)",
            {"error": "http", "status": 503},
        ),
        (
            httpx.Response(502, text="<html>Bad Gateway</html>"),
            "tool request rejected: <html>Bad Gateway</html>",
            {"error": "http", "status": 502},
        ),
        (httpx.Response(500), "tool request rejected: Internal Server Error", {"error": "http", "status": 500}),
        (
            httpx.Response(200, text="{not json"),
            "tools service sent an unreadable reply",
            {"error": "protocol", "status": 200},
        ),
        (
            httpx.Response(200, json={"answer": "no success field"}),
            "tools service sent an unreadable reply",
            {"error": "protocol", "status": 200},
        ),
    ],
)
async def test_bad_replies_become_readable_results(reply: httpx.Response, answer: str, metadata: dict) -> None:
    async with mock_client(lambda _: reply) as client:
        result = await client.rag_query("erin", "kb", "q")
    assert result.success is False and result.answer == answer and result.metadata == metadata


@pytest.mark.parametrize(
    ("exc", "prefix", "kind"),
    [
        (httpx.ReadTimeout("slow"), "tools service timed out after 7 s", "timeout"),
        (httpx.ConnectTimeout("slow"), "tools service timed out after 7 s", "timeout"),
        (httpx.ConnectError("refused"), "tools service unavailable: ConnectError: refused", "unavailable"),
        (httpx.RemoteProtocolError("cut"), "tools service unavailable: RemoteProtocolError: cut", "unavailable"),
    ],
)
async def test_transport_failures_become_readable_results(exc: Exception, prefix: str, kind: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with mock_client(handler, timeout=7) as client:
        result = await client.python_coder("erin", "chat-3", "print(1)")
        assert result.success is False and result.answer == prefix and result.metadata["error"] == kind
        assert await client.health() is False
        with pytest.raises(ToolsClientError) as err:
            await client.list_tools()
        assert err.value.status == 0


async def test_non_tool_calls_raise_with_the_status() -> None:
    replies = iter([httpx.Response(200, text="nope"), httpx.Response(403, json={"error": {"message": "no"}})])
    async with mock_client(lambda _: next(replies)) as client:
        with pytest.raises(ToolsClientError) as unreadable:
            await client.list_tools()
        assert unreadable.value.status == 502
        with pytest.raises(ToolsClientError) as refused:
            await client.read_file("erin", "s", "f.txt")
        assert (refused.value.status, refused.value.message) == (403, "no")
