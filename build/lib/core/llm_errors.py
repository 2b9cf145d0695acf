"""Backend failures as API errors, and the guard that makes a cut stream one."""

from __future__ import annotations

from typing import Any

import httpx
import openai
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.outputs import LLMResult

from core.errors import APIError

__all__ = ["CompletionGuard", "IncompleteAnswer", "llm_error_to_api_error"]


class IncompleteAnswer(Exception):
    """The backend's answer ended without a finish reason: a stream cut mid-way."""


class CompletionGuard(AsyncCallbackHandler):
    """Fails a model call whose answer did not finish (no `finish_reason`/`done_reason`).

    A backend that hangs up mid-stream without `[DONE]` ends the SDK's stream quietly, and
    the fragment would pass for a whole answer; raising here makes the run fail and roll back.
    Used with real backends only (scripted in-process test models report no finish reason)."""

    raise_error = True

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for gens in response.generations:
            for gen in gens:
                info = gen.generation_info or {}
                meta = getattr(getattr(gen, "message", None), "response_metadata", None) or {}
                if not any(k in info or k in meta for k in ("finish_reason", "done_reason", "stop_reason")):
                    raise IncompleteAnswer("the LLM backend's answer ended before it was complete")


def llm_error_to_api_error(exc: BaseException) -> APIError | None:
    """Map a backend failure to 502/503/504; None when it is not a backend failure."""
    if isinstance(exc, IncompleteAnswer):
        return APIError(502, f"{exc} (the stream was cut)", code="backend_incomplete")
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return APIError(504, f"LLM backend timed out: {exc}", code="backend_timeout")
    if isinstance(exc, openai.APIConnectionError | httpx.ConnectError | httpx.NetworkError | ConnectionError):
        return APIError(503, f"LLM backend is unreachable: {exc}", code="backend_unavailable")
    if isinstance(exc, openai.APIStatusError):
        return APIError(502, f"LLM backend returned HTTP {exc.status_code}: {exc.message}", code="backend_error")
    if isinstance(exc, httpx.HTTPStatusError):
        return APIError(502, f"LLM backend returned HTTP {exc.response.status_code}", code="backend_error")
    name = type(exc).__module__
    if name.startswith("ollama"):
        return APIError(502, f"LLM backend error: {exc}", code="backend_error")
    return None
