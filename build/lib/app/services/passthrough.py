"""Backend model ids as a faithful proxy: a Chat Completions request that names a backend
model (and no agent) goes to the backend as the client wrote it.

Every parameter the client sent passes through untouched (`tools`, `tool_choice`,
`parallel_tool_calls`, `role: "tool"` messages, `response_format`, `n`, `stop`, token limits,
sampling, `seed`, `logprobs`, `user`, image and other content parts), and the backend's answer
comes back as it gave it, `finish_reason` included. Only our extensions (`agent_type`,
`session_id`) are taken out. Pass-through turns are not stored in a session: the client
keeps the conversation, as it does with OpenAI.

One shared `httpx.AsyncClient` per LLM service (the chat model's own pooled client when it
has one), and no database connection is held while the backend answers.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app.schemas.openai import ChatCompletionRequest
from core.errors import APIError
from core.llm import LLMService

__all__ = ["backend_target", "complete", "open_stream", "request_body", "EXTENSIONS"]

log = logging.getLogger(__name__)

EXTENSIONS = ("agent_type", "session_id")
_CLIENTS: weakref.WeakKeyDictionary[LLMService, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def backend_target(llm: LLMService) -> tuple[str, dict[str, str]] | None:
    """(chat completions URL, headers), or None for a backend without an HTTP endpoint
    (a chat model passed to `create_app`). Ollama is reached on its OpenAI-compatible /v1."""
    info = llm.info
    if info.name == "injected" or not info.base_url:
        return None
    base = info.base_url.rstrip("/")
    if info.name == "ollama":
        base += "/v1"
    headers = {"Authorization": f"Bearer {info.api_key}"} if info.api_key else {}
    return base + "/chat/completions", headers


def _client(llm: LLMService) -> httpx.AsyncClient:
    own = getattr(llm.llm, "http_async_client", None)
    if isinstance(own, httpx.AsyncClient) and not own.is_closed:
        return own  # closed with the LLM service
    client = _CLIENTS.get(llm)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=llm.settings.llm_timeout,
            limits=httpx.Limits(max_connections=llm.settings.llm_max_connections, max_keepalive_connections=64),
        )
        _CLIENTS[llm] = client
    return client


def request_body(body: ChatCompletionRequest) -> dict[str, Any]:
    """The client's request as it sent it (fields it set, extras included), minus our extensions."""
    data = body.model_dump(exclude_unset=True, exclude=set(EXTENSIONS))
    data["stream"] = body.stream
    return data


def _backend_error(status: int, raw: bytes) -> APIError:
    """A backend's refusal: its 4xx stays a 4xx (a parameter it does not support is the
    client's to fix), with its own message; a 5xx is our 502."""
    message = raw.decode("utf-8", "replace")[:2000]
    try:
        err = json.loads(raw).get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
        elif isinstance(err, str):
            message = err
    except (ValueError, AttributeError):
        pass
    if 400 <= status < 500 and status not in (401, 403, 408, 429):
        return APIError(status, f"LLM backend: {message}", code="backend_rejected")
    return APIError(502, f"LLM backend returned HTTP {status}: {message}", code="backend_error")


def _transport_error(exc: httpx.HTTPError) -> APIError:
    if isinstance(exc, httpx.TimeoutException):
        return APIError(504, f"LLM backend timed out: {exc}", code="backend_timeout")
    return APIError(503, f"LLM backend is unreachable: {exc!r}", code="backend_unavailable")


async def complete(llm: LLMService, body: ChatCompletionRequest) -> dict[str, Any]:
    """The backend's non-streaming answer, as it gave it."""
    target = backend_target(llm)
    assert target is not None
    url, headers = target
    try:
        resp = await _client(llm).post(url, json=request_body(body), headers=headers)
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from exc
    if resp.status_code >= 400:
        raise _backend_error(resp.status_code, resp.content)
    try:
        data: dict[str, Any] = resp.json()
    except ValueError as exc:
        raise APIError(502, "LLM backend answered with something that is not JSON", code="backend_error") from exc
    return data


async def open_stream(
    llm: LLMService, request: ChatCompletionRequest, *, body: dict[str, Any] | None = None
) -> AsyncIterator[str]:
    """Open the backend's stream and check its status before the first byte goes to the
    client (a refusal is then a real HTTP error), then relay its SSE lines as they come.
    The stream always ends with `[DONE]`; a backend that hangs up early gets an error event."""
    target = backend_target(llm)
    assert target is not None
    url, headers = target
    client = _client(llm)
    outgoing = client.build_request("POST", url, json=body or request_body(request), headers=headers)
    try:
        resp = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from exc
    if resp.status_code >= 400:
        raw = await resp.aread()
        await resp.aclose()
        raise _backend_error(resp.status_code, raw)
    return _relay(resp)


async def _relay(resp: httpx.Response) -> AsyncIterator[str]:
    done = False
    try:
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            yield line + "\n\n"
            if line[5:].strip() == "[DONE]":
                done = True
                break
    except httpx.HTTPError as exc:
        log.warning("pass-through stream broke: %r", exc)
    finally:
        await resp.aclose()
    if not done:
        error = APIError(502, "the LLM backend's stream ended before it was complete", code="backend_incomplete")
        yield "data: " + json.dumps({"error": _envelope(error)}) + "\n\n"
        yield "data: [DONE]\n\n"


def _envelope(error: APIError) -> dict[str, Any]:
    return {"message": error.message, "type": error.type, "param": error.param, "code": error.code}
