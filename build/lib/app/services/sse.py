"""Server-sent events for a run: the OpenAI chunk framing of DESIGN section 5.

One stable completion id, `role` in the first delta, progress as `reasoning_content`,
`finish_reason` only on the last choice chunk, an optional usage chunk, then `[DONE]`;
a failure is one `data: {"error": ...}` event, then `[DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from app.schemas.openai import Usage, completion_chunk
from app.services.runner import RunEvent, RunHandle, RunResult

__all__ = ["data_line", "run_events", "replay_events"]


def data_line(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


class _Chunks:
    def __init__(self, completion_id: str, model: str) -> None:
        self.cid, self.model, self.created = completion_id, model, int(time.time())

    def __call__(self, **kwargs: Any) -> str:
        return data_line(completion_chunk(completion_id=self.cid, model=self.model, created=self.created, **kwargs))


async def run_events(
    handle: RunHandle,
    first: RunEvent | None,
    *,
    completion_id: str,
    model: str,
    session_id: str,
    include_usage: bool,
    until_gone: Callable[[], Awaitable[None]],
) -> AsyncIterator[str]:
    """Frame a run's events. `until_gone` returns when the client has hung up: the run is
    then cancelled at once (a tool may be running, so nothing is being sent that could fail)."""
    chunk = _Chunks(completion_id, model)
    yield chunk(delta={"role": "assistant", "content": ""}, session_id=session_id)

    async def events() -> AsyncIterator[RunEvent]:
        if first is not None:
            yield first
            if first.kind in ("done", "error"):
                return
        async for event in handle:
            yield event

    async def cancel_when_gone() -> None:
        await until_gone()
        handle.cancel()

    watcher = asyncio.ensure_future(cancel_when_gone())
    try:
        async for event in events():
            if event.kind == "content":
                yield chunk(delta={"content": event.text})
            elif event.kind == "reasoning":
                yield chunk(delta={"reasoning_content": event.text})
            elif event.kind == "error" and event.error is not None:
                yield data_line(event.error.body())
                break
            elif event.kind == "done":
                result: RunResult = event.data["result"]
                yield chunk(delta={}, finish_reason=result.finish_reason, session_id=session_id)
                if include_usage:
                    yield chunk(usage=result.usage if result.usage.total_tokens else Usage())
                break
        yield "data: [DONE]\n\n"
    finally:
        watcher.cancel()
        await handle.close()  # a client that went away cancels the run


async def replay_events(stored: dict[str, Any], *, include_usage: bool) -> AsyncIterator[str]:
    """A stored answer (an idempotent retry) as the same chunk sequence a live run sends."""
    chunk = _Chunks(str(stored.get("id", "")), str(stored.get("model", "")))
    session_id = stored.get("x_session_id")
    choice = (stored.get("choices") or [{}])[0]
    message = choice.get("message", {})
    yield chunk(delta={"role": "assistant", "content": ""}, session_id=session_id)
    if message.get("reasoning_content"):
        yield chunk(delta={"reasoning_content": message["reasoning_content"]})
    yield chunk(delta={"content": message.get("content") or ""})
    # The original's: a retry of an answer cut by max_tokens still says "length".
    yield chunk(delta={}, finish_reason=choice.get("finish_reason") or "stop", session_id=session_id)
    if include_usage:
        yield chunk(usage=Usage.model_validate(stored.get("usage") or {}))
    yield "data: [DONE]\n\n"
