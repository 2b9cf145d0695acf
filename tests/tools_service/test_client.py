"""ToolsClient against the live tools app over HTTP, and against a tools app that is down."""

from __future__ import annotations

import pytest

from tests.servers import free_port
from tests.tools_service.conftest import ToolsApp, requires_bwrap
from tools_service.client import ToolsClient, ToolsClientError


@requires_bwrap
async def test_client_round_trip(tools_app: ToolsApp) -> None:
    async with ToolsClient(tools_app.url, tools_app.settings.tools_key, timeout=60) as client:
        assert await client.health() is True
        assert {"python_coder", "websearch"} <= {t["name"] for t in await client.list_tools()}
        up = await client.upload_file("dave", "chat-1", "in/data.txt", b"3 4 5")
        assert up.success, up
        result = await client.python_coder("dave", "chat-1", "print(sum(map(int, open('in/data.txt').read().split())))")
        assert result.success and result.data["stdout"] == "12\n", result
        files = await client.list_files("dave", "chat-1")
        assert [f["name"] for f in files.data["files"]] == ["in/data.txt"]
        assert await client.read_file("dave", "chat-1", "in/data.txt") == b"3 4 5"
        with pytest.raises(ToolsClientError) as err:
            await client.read_file("dave", "chat-1", "nope.txt")
        assert err.value.status == 404
        assert (await client.delete_workspace("dave", "chat-1")).data["removed"] is True
        search = await client.websearch("dave", "anything")
        assert search.success is False and "TAVILY_API_KEY" in search.answer


async def test_a_wrong_service_key_is_a_readable_rejection(tools_app: ToolsApp) -> None:
    async with ToolsClient(tools_app.url, "not-the-key") as client:
        result = await client.python_coder("dave", "chat-1", "print(1)")
    assert result.success is False and result.answer == "tool request rejected: invalid service key"
    assert result.metadata["status"] == 401


async def test_bad_arguments_are_a_readable_rejection(tools_app: ToolsApp) -> None:
    async with ToolsClient(tools_app.url, tools_app.settings.tools_key) as client:
        result = await client.python_coder("dave", "../etc", "print(1)")
    assert result.success is False and "session_id" in result.answer and result.metadata["status"] == 400


async def test_tools_app_down_gives_results_not_exceptions() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with ToolsClient(url, "key", timeout=5) as client:
        result = await client.python_coder("dave", "chat-1", "print(1)")
        assert result.success is False and result.answer.startswith("tools service unavailable: ConnectError")
        assert (await client.websearch("dave", "x")).answer.startswith("tools service unavailable")
        assert (await client.call("dave", "/api/tools/rag/query", {"query": "x"})).success is False
        assert await client.health() is False
        with pytest.raises(ToolsClientError) as err:
            await client.list_tools()
        assert err.value.status == 0


@requires_bwrap
async def test_a_slow_tool_times_out_and_the_session_survives(tools_app: ToolsApp) -> None:
    async with ToolsClient(tools_app.url, tools_app.settings.tools_key, timeout=1.0) as client:
        slow = await client.python_coder("dave", "chat-2", "import time; time.sleep(2.5); open('late', 'w')")
        assert slow.success is False and slow.answer == "tools service timed out after 1 s"
    async with ToolsClient(tools_app.url, tools_app.settings.tools_key, timeout=30) as client:
        after = await client.python_coder("dave", "chat-2", "import os; print(sorted(os.listdir('.')))")
    assert after.success, after
