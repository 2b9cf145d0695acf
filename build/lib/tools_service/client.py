"""Typed async client for the tools app: the only thing `app/` and `graphs/` import from here.

It authenticates with the service key (`TOOLS_API_KEY`) and names the user the main app
vouches for in `X-User-Id`. Tool calls never raise: a connection error, a timeout or a 4xx
comes back as a `ToolResult(success=False, answer=...)` the model can read, so an agent run
goes on when the tools app is down. Tests inject `transport` (e.g. `httpx.ASGITransport`).

Endpoints, methods and the fields filled from the run's context come from each tool's
contract (`tools_service.contracts`), the same models the tools app validates with.
"""

from __future__ import annotations

import logging
from typing import IO, Any

import httpx

from tools_service.contracts import ToolContract
from tools_service.contracts.python_coder import PYTHON_CODER
from tools_service.contracts.rag import RAG_LIST, RAG_QUERY
from tools_service.contracts.websearch import WEBSEARCH
from tools_service.envelope import ToolResult

__all__ = ["ToolsClient", "ToolsClientError", "ToolResult"]

log = logging.getLogger(__name__)

_SLACK = 15.0  # beyond a run's own timeout: sandbox start, quota check, transfer


class ToolsClientError(Exception):
    """A non-tool call (file download, tool list) failed; `status` is 0 when the app was unreachable."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or response.reason_phrase)
    if isinstance(body, dict) and "answer" in body:
        return str(body["answer"])
    return response.reason_phrase


class ToolsClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"X-API-Key": api_key},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ToolsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the generic call ----------------------------------------------------------------

    async def call(
        self,
        user_id: str,
        path: str,
        json: dict[str, Any] | None = None,
        *,
        method: str = "POST",
        timeout: float | None = None,
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> ToolResult:
        """Call any tools endpoint that answers with the envelope; never raises for transport trouble."""
        seconds = timeout or self.timeout
        try:
            response = await self._http.request(
                method, path, json=json, files=files, data=data, headers={"X-User-Id": user_id},
                timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
            )  # fmt: skip
        except httpx.TimeoutException:
            return ToolResult(success=False, answer=f"tools service timed out after {seconds:g} s",
                              metadata={"error": "timeout"})  # fmt: skip
        except httpx.HTTPError as exc:
            log.warning("tools service unavailable at %s: %s", self.base_url, exc)
            return ToolResult(success=False, answer=f"tools service unavailable: {type(exc).__name__}: {exc}",
                              metadata={"error": "unavailable"})  # fmt: skip
        if response.status_code >= 400:
            return ToolResult(success=False, answer=f"tool request rejected: {_error_message(response)}",
                              metadata={"error": "http", "status": response.status_code})  # fmt: skip
        try:
            return ToolResult.model_validate(response.json())
        except ValueError:
            return ToolResult(success=False, answer="tools service sent an unreadable reply",
                              metadata={"error": "protocol", "status": response.status_code})  # fmt: skip

    # -- tools -------------------------------------------------------------------------

    async def run_tool(
        self, contract: ToolContract, user_id: str, args: dict[str, Any], *, session_id: str | None = None
    ) -> ToolResult:
        """Call a tool as its contract says (endpoint, method, context fields); never raises."""
        context = {"session_id": session_id} if session_id is not None else {}
        try:
            body = contract.body(args, **context)
        except ValueError as exc:
            return ToolResult(success=False, answer=str(exc), metadata={"error": "context"})
        http_timeout = self.timeout
        if contract.timeout_arg and isinstance(asked := body.get(contract.timeout_arg), int | float):
            # DEFAULT_TOOL_TIMEOUT bounds the call; a longer run the caller asks for gets its own time.
            http_timeout = max(self.timeout, float(asked) + _SLACK)
        if contract.method == "GET":
            return await self.call(user_id, contract.path, method="GET", timeout=http_timeout)
        return await self.call(user_id, contract.path, body, method=contract.method, timeout=http_timeout)

    async def python_coder(self, user_id: str, session_id: str, code: str, timeout: float | None = None) -> ToolResult:
        args = {"code": code, "timeout": timeout}
        return await self.run_tool(PYTHON_CODER, user_id, args, session_id=session_id)

    async def websearch(
        self, user_id: str, query: str, max_results: int | None = None, search_depth: str | None = None
    ) -> ToolResult:
        args = {"query": query, "max_results": max_results, "search_depth": search_depth}
        return await self.run_tool(WEBSEARCH, user_id, args)

    async def rag_query(self, user_id: str, collection: str, query: str, top_k: int | None = None) -> ToolResult:
        args = {"collection": collection, "query": query, "top_k": top_k}
        return await self.run_tool(RAG_QUERY, user_id, args)

    async def rag_list_collections(self, user_id: str) -> ToolResult:
        return await self.run_tool(RAG_LIST, user_id, {})

    # -- workspace files ---------------------------------------------------------------

    async def list_files(self, user_id: str, session_id: str) -> ToolResult:
        return await self.call(user_id, f"/api/tools/python_coder/files/{session_id}", method="GET")

    async def upload_file(self, user_id: str, session_id: str, filename: str, content: bytes | IO[bytes]) -> ToolResult:
        """Copy a chat attachment into the session's workspace (`filename` may be `dir/name.ext`).

        `content` may be an open binary file: httpx then streams it from its start, 64 KB at a
        time, so a large upload is never whole in memory."""
        return await self.call(
            user_id, f"/api/tools/python_coder/files/{session_id}",
            files={"file": (filename.rsplit("/", 1)[-1], content)}, data={"filename": filename},
        )  # fmt: skip

    async def delete_workspace(self, user_id: str, session_id: str) -> ToolResult:
        return await self.call(user_id, f"/api/tools/python_coder/files/{session_id}", method="DELETE")

    async def delete_file(self, user_id: str, session_id: str, filename: str) -> ToolResult:
        return await self.call(user_id, f"/api/tools/python_coder/files/{session_id}/{filename}", method="DELETE")

    async def read_file(self, user_id: str, session_id: str, filename: str) -> bytes:
        """The bytes of a workspace file; raises `ToolsClientError` (404 when absent)."""
        return (await self._get(user_id, f"/api/tools/python_coder/files/{session_id}/{filename}")).content

    # -- service -----------------------------------------------------------------------

    async def list_tools(self, user_id: str = "system") -> list[dict[str, Any]]:
        """Each tool's name, description and JSON parameter schema; raises `ToolsClientError`."""
        body = await self._get_json(user_id, "/api/tools/list")
        tools = body.get("tools")
        return tools if isinstance(tools, list) else []

    async def health(self) -> bool:
        try:
            response = await self._http.get("/health", timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _get(self, user_id: str, path: str) -> httpx.Response:
        try:
            response = await self._http.get(path, headers={"X-User-Id": user_id})
        except httpx.HTTPError as exc:
            raise ToolsClientError(0, f"tools service unavailable: {exc}") from exc
        if response.status_code >= 400:
            raise ToolsClientError(response.status_code, _error_message(response))
        return response

    async def _get_json(self, user_id: str, path: str) -> dict[str, Any]:
        response = await self._get(user_id, path)
        try:
            body = response.json()
        except ValueError as exc:
            raise ToolsClientError(502, "tools service sent an unreadable reply") from exc
        return body if isinstance(body, dict) else {}
