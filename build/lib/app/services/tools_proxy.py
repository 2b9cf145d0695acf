"""Forwarding user requests to the tools app, streamed both ways.

The main app vouches for the caller with the service key and `X-User-Id`, exactly as its
agents' tool calls do; whatever identity the client put in headers, query or JSON body is
dropped first. Bodies are streamed chunk by chunk (an upload is never held whole in
memory), except small JSON bodies, which are parsed to drop a client-supplied `user_id`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import StreamingResponse

from core.errors import APIError

__all__ = ["ALLOWED", "ProxyTarget", "allowed", "forward", "open_client"]

log = logging.getLogger(__name__)

# (method, path below /api/tools): the tools app's user-facing endpoints, nothing else.
_SEG = r"[^/]+"
ALLOWED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(pattern))
    for method, pattern in (
        ("GET", r"list"),
        ("POST", r"websearch"),
        ("POST", r"python_coder"),
        ("GET", rf"python_coder/files/{_SEG}"),
        ("GET", rf"python_coder/files/{_SEG}/.+"),
        ("POST", rf"python_coder/files/{_SEG}"),
        ("DELETE", rf"python_coder/files/{_SEG}/.+"),
        ("GET", r"rag/collections"),
        ("POST", r"rag/collections"),
        ("DELETE", rf"rag/collections/{_SEG}"),
        ("GET", rf"rag/collections/{_SEG}/documents"),
        ("DELETE", rf"rag/collections/{_SEG}/documents/{_SEG}"),
        ("POST", r"rag/upload"),
        ("GET", rf"rag/jobs/{_SEG}"),  # a background upload's progress
        ("GET", rf"rag/collections/{_SEG}/stats"),
        ("POST", rf"rag/collections/{_SEG}/optimize"),
        ("POST", r"rag/query"),
    )
)

# Request headers passed on; everything else (Authorization, X-API-Key, X-User-Id, cookies) stays here.
_REQUEST_HEADERS = ("content-type", "content-length", "accept", "x-request-id")
_RESPONSE_HEADERS = ("content-type", "content-length", "content-disposition", "x-content-type-options", "x-request-id")
_MAX_JSON = 4 * 1024 * 1024
_IDENTITY_FIELDS = ("user_id", "userId")


@dataclass(frozen=True)
class ProxyTarget:
    base_url: str
    service_key: str


def allowed(method: str, path: str) -> bool:
    return any(m == method and p.fullmatch(path) for m, p in ALLOWED)


def open_client(timeout: float) -> httpx.AsyncClient:
    """Reads may take as long as a tool run; writes (uploads) are paced by the client."""
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout + 15.0, connect=5.0, write=None))


async def _json_body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > _MAX_JSON:
            raise APIError(413, f"a JSON body over {_MAX_JSON // (1024 * 1024)} MB", code="request_too_large")
    if not data:
        return b""
    try:
        body = json.loads(bytes(data))
    except (ValueError, RecursionError) as exc:
        raise APIError(400, "request body is not valid JSON", code="invalid_json") from exc
    if isinstance(body, dict):
        for name in _IDENTITY_FIELDS:
            body.pop(name, None)
    return json.dumps(body).encode()


async def _passthrough(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        log.info("tools proxy: the client went away during the upload")
        raise


async def forward(
    http: httpx.AsyncClient, target: ProxyTarget, request: Request, path: str, user_id: str
) -> StreamingResponse:
    headers = {k: v for k, v in request.headers.items() if k.lower() in _REQUEST_HEADERS}
    headers.update({"X-API-Key": target.service_key, "X-User-Id": user_id})
    params = httpx.QueryParams([(k, v) for k, v in request.query_params.multi_items() if k not in _IDENTITY_FIELDS])
    content: bytes | AsyncIterator[bytes]
    if request.method in ("GET", "DELETE", "HEAD"):
        content = b""
        headers.pop("content-length", None)
        headers.pop("content-type", None)
    elif request.headers.get("content-type", "").startswith("application/json"):
        content = await _json_body(request)
        headers["content-length"] = str(len(content))
    else:
        content = _passthrough(request)
    upstream = http.build_request(
        request.method,
        f"{target.base_url.rstrip('/')}/api/tools/{path}",
        headers=headers,
        params=params,
        content=content,
    )
    try:
        response = await http.send(upstream, stream=True)
    except ClientDisconnect as exc:  # nobody is left to answer; say so in the log, not as a 500
        raise APIError(400, "the client went away during the upload", code="client_disconnected") from exc
    except httpx.TimeoutException as exc:
        raise APIError(504, "the tools app did not answer in time", code="tools_timeout") from exc
    except httpx.HTTPError as exc:
        log.warning("tools proxy: %s %s failed: %s", request.method, path, exc)
        raise APIError(
            503, f"the tools app is unreachable ({type(exc).__name__}); try again shortly", code="tools_unavailable"
        ) from exc
    out_headers = {k: v for k, v in response.headers.items() if k.lower() in _RESPONSE_HEADERS}
    return StreamingResponse(_relay(response), status_code=response.status_code, headers=out_headers)


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()
