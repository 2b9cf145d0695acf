"""A chat model call's stream from an OpenAI-compatible backend, without the SDK in between.

`ChatOpenAI` streams through the `openai` SDK, which builds a pydantic object for every SSE
chunk, only for LangChain to dump it back to the dict it came from. On a short answer that
round trip, with the SDK's request building, is about half of the platform's CPU per chat
turn (`bench/turn_cpu.py`). `LeanStream` posts the same payload (`_get_request_payload`,
so messages, tools and options are converted exactly as before) on the same httpx client,
reads the SSE lines as dicts and hands them to the same `_convert_chunk_to_generation_chunk`.

(The SDK's exceptions are typed for its own httpx fork; they hold our httpx objects alike.)
What the SDK did for the call is kept: an error status becomes the SDK's own exception
(built by the SDK from the response, then mapped by LangChain as before), a transport
failure `APIConnectionError`/`APITimeoutError`, and one retry, as `max_retries=1` gave,
on a refused connection, a timeout, 408/409/429 or 5xx before any byte of an answer.
Structured output (`response_format`) keeps the SDK's path: it parses the final answer.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import openai
from langchain_core.messages import AIMessageChunk, BaseMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai.chat_models import base as lc_openai

__all__ = ["LeanStream"]

_RETRY_STATUS = {408, 409, 429}
_MAX_RETRY_DELAY = 8.0


def _retry_delay(response: httpx.Response | None) -> float:
    """The SDK's: the backend's Retry-After when it is short, else about half a second."""
    if response is not None:
        try:
            given = float(response.headers.get("retry-after", ""))
            if 0 <= given <= _MAX_RETRY_DELAY:
                return given
        except ValueError:
            pass
    return 0.5 * (1 - 0.25 * random.random())


def _sse_data(line: str) -> str | None:
    """The payload of an SSE `data:` line; None for comments, other fields and blank lines."""
    if not line.startswith("data:"):
        return None
    return line[5:].lstrip(" ")


class LeanStream:
    """Mixin for a `ChatOpenAI` class (before it in the bases): stream on httpx directly."""

    async def _open(self, payload: dict[str, Any]) -> httpx.Response:
        model: Any = self
        client: httpx.AsyncClient = model.http_async_client
        url = str(model.openai_api_base or "https://api.openai.com/v1").rstrip("/") + "/chat/completions"
        headers = {"Accept": "text/event-stream", **(model.default_headers or {})}
        if model.openai_api_key is not None:
            headers["Authorization"] = f"Bearer {model.openai_api_key.get_secret_value()}"
        retries = max(0, int(model.max_retries or 0))
        for attempt in range(retries + 1):
            last = attempt == retries
            request = client.build_request("POST", url, json=payload, headers=headers)
            try:
                response = await client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                if last:
                    raise openai.APITimeoutError(request=cast(Any, request)) from exc
                await asyncio.sleep(_retry_delay(None))
                continue
            except httpx.TransportError as exc:
                if last:
                    raise openai.APIConnectionError(request=cast(Any, request)) from exc
                await asyncio.sleep(_retry_delay(None))
                continue
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            if not last and (response.status_code in _RETRY_STATUS or response.status_code >= 500):
                await asyncio.sleep(_retry_delay(response))
                continue
            raise model.root_async_client._make_status_error_from_response(response)
        raise AssertionError("unreachable")

    async def _astream(
        self,
        messages: Any,
        stop: list[str] | None = None,
        run_manager: Any = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        model: Any = self
        lean = isinstance(model.http_async_client, httpx.AsyncClient) and not model.include_response_headers
        if not lean or kwargs.get("response_format") or model._use_responses_api({**kwargs, **model.model_kwargs}):
            parent: Any = super()
            async for chunk in parent._astream(messages, stop, run_manager, stream_usage=stream_usage, **kwargs):
                yield chunk
            return
        kwargs["stream"] = True
        if model._should_stream_usage(stream_usage, **kwargs):
            kwargs["stream_options"] = {"include_usage": True}
        payload = model._get_request_payload(messages, stop=stop, **kwargs)
        if "response_format" in payload:  # set on the model itself: the SDK's parsing path
            parent = super()
            async for chunk in parent._astream(messages, stop, run_manager, stream_usage=stream_usage, **kwargs):
                yield chunk
            return
        default_chunk_class: type[BaseMessageChunk] = AIMessageChunk
        try:
            response = await self._open(payload)
        except openai.BadRequestError as exc:
            lc_openai._handle_openai_bad_request(exc)
            raise
        except openai.APIError as exc:
            lc_openai._handle_openai_api_error(exc)
            raise
        done = False  # after `[DONE]` the rest is read, not cut: the connection goes back to the pool
        try:
            async for line in response.aiter_lines():
                data = _sse_data(line)
                if done or not data:
                    continue
                if data == "[DONE]":
                    done = True
                    continue
                chunk = json.loads(data)
                if isinstance(chunk, dict) and chunk.get("error"):
                    error = chunk["error"]
                    message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
                    raise openai.APIError(message, request=cast(Any, response.request), body=error)
                generation_chunk = model._convert_chunk_to_generation_chunk(chunk, default_chunk_class, {})
                if generation_chunk is None:
                    continue
                default_chunk_class = generation_chunk.message.__class__
                logprobs = (generation_chunk.generation_info or {}).get("logprobs")
                if run_manager:
                    await run_manager.on_llm_new_token(generation_chunk.text, chunk=generation_chunk, logprobs=logprobs)
                yield generation_chunk
        finally:
            await response.aclose()
