"""OpenAI's Responses API on top of the Chat Completions machinery.

A Responses request becomes a Chat Completions request (`instructions` → a system message,
`input` text or items → messages) and takes the same route: an agent turn (the runner) or
the backend pass-through. `previous_response_id` continues the conversation: on an agent,
the stored response's platform session (its checkpoint holds the history, so only the new
input is sent); on a backend model, the stored conversation is sent again (the backend
keeps nothing). Every response is stored (`ResponseRecord`) for `GET /v1/responses/{id}`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import ResponseRecord, User
from app.schemas.openai import ChatCompletionRequest, ChatMessageIn
from app.services import passthrough, turns
from app.services.container import Services
from app.services.routing import Route
from app.services.runner import RunHandle, RunResult
from core.errors import APIError

__all__ = ["ResponseRecord", "to_messages", "start", "response_object", "load", "save", "new_id"]


def new_id(prefix: str = "resp") -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _text_of(content: Any) -> str | list[dict[str, Any]]:
    """An item's content: a string, or parts (`input_text`, `output_text`, `input_image`)
    turned into Chat Completions parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise APIError(400, "input item content must be a string or a list of parts", param="input")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image":
            url = part.get("image_url") or part.get("file_id") or ""
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": part.get("detail", "auto")}})
        else:
            raise APIError(400, f"input part type {kind!r} is not supported", param="input")
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def to_messages(input_: Any, instructions: str | None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    if isinstance(input_, str):
        return [*messages, {"role": "user", "content": input_}]
    if not isinstance(input_, list) or not input_:
        raise APIError(400, "input must be a string or a non-empty list of items", param="input")
    for item in input_:
        if not isinstance(item, dict):
            raise APIError(400, "each input item must be an object", param="input")
        kind = item.get("type", "message")
        if kind != "message":
            raise APIError(400, f"input item type {kind!r} is not supported", param="input")
        role = item.get("role", "user")
        if role not in ("user", "assistant", "system", "developer"):
            raise APIError(400, f"input item role {role!r} is not supported", param="input")
        messages.append({"role": role, "content": _text_of(item.get("content", ""))})
    return messages


async def start(
    services: Services, user: User, chat: ChatCompletionRequest, route: Route
) -> AsyncIterator[tuple[str, Any]]:
    """Start the answer (a refusal or an unreachable backend raises here, as an HTTP error),
    then iterate: ("delta", text) as it comes, then ("done", (text, usage dict, session id))."""
    if route.passthrough:
        data = {**passthrough.request_body(chat), "stream": True, "stream_options": {"include_usage": True}}
        return _from_backend(await passthrough.open_stream(services.llm, chat, body=data))
    turn = await turns.prepare_turn(services, user, chat, [], route)
    assert turn.run is not None
    return _from_run(services.runner.start(turn.run, turn.thread_id, ephemeral=turn.ephemeral), turn.session_id)


async def _from_backend(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, Any]]:
    text, usage = "", {}
    async for line in lines:
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        chunk = json.loads(payload)
        if "error" in chunk:
            err = chunk["error"]
            raise APIError(502, str(err.get("message")), code=err.get("code") or "backend_error")
        for choice in chunk.get("choices") or []:
            delta = (choice.get("delta") or {}).get("content")
            if delta:
                text += delta
                yield "delta", delta
        if chunk.get("usage"):
            usage = chunk["usage"]
    yield "done", (text, usage, None)


async def _from_run(handle: RunHandle, session_id: str) -> AsyncIterator[tuple[str, Any]]:
    try:
        async for event in handle:
            if event.kind == "content":
                yield "delta", event.text
            elif event.kind == "error" and event.error is not None:
                raise event.error
            elif event.kind == "done":
                result: RunResult = event.data["result"]
                yield "done", (result.answer, result.usage.model_dump(), session_id)
                return
    finally:
        await handle.close()


def response_object(
    rid: str,
    *,
    model: str,
    text: str | None,
    usage: dict[str, Any] | None,
    status: str,
    instructions: str | None,
    previous: str | None,
    session_id: str | None,
    message_id: str,
) -> dict[str, Any]:
    output = []
    if text is not None:
        output.append(
            {
                "type": "message",
                "id": message_id,
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    u = usage or {}
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "instructions": instructions,
        "previous_response_id": previous,
        "output": output,
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "metadata": {},
        "usage": None
        if usage is None
        else {
            "input_tokens": int(u.get("prompt_tokens", 0)),
            "output_tokens": int(u.get("completion_tokens", 0)),
            "total_tokens": int(u.get("total_tokens", 0)),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
        "x_session_id": session_id,
    }


async def load(db: AsyncSession, user: User, rid: str) -> ResponseRecord:
    """The caller's stored response; another user's is as absent as a missing one."""
    record = await db.get(ResponseRecord, rid)
    if record is None or record.user_id != user.id:
        raise APIError(404, f"response {rid!r} not found", param="response_id", code="not_found")
    return record


async def save(services: Services, user: User, body: dict[str, Any], messages: list[ChatMessageIn], text: str) -> None:
    conversation = [m.model_dump(exclude_none=True) for m in messages] + [{"role": "assistant", "content": text}]
    async with services.db.session() as db:
        db.add(
            ResponseRecord(
                id=body["id"],
                user_id=user.id,
                session_id=body.get("x_session_id"),
                body=json.dumps(body),
                conversation=json.dumps(conversation),
            )
        )
        await db.commit()
