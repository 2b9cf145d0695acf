"""`POST /v1/responses` and `GET /v1/responses/{id}`: OpenAI's Responses API.

Agents and backend models both work as `model` (the same routing as Chat Completions,
`app.services.routing`); `previous_response_id` continues the conversation on the platform's
session. Streaming sends the Responses event types (`response.created`,
`response.in_progress`, `response.output_item.added`, `response.content_part.added`,
`response.output_text.delta`, `response.output_text.done`, `response.content_part.done`,
`response.output_item.done`, `response.completed`; a failure is `error` then
`response.failed`). Function tools and non-message input items are not supported (400).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.deps import CurrentUser, ServicesDep
from app.db import User
from app.schemas.openai import ChatCompletionRequest
from app.services import responses, routing
from app.services.container import Services
from core.errors import APIError

router = APIRouter(prefix="/v1", tags=["openai"])


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[Any]
    instructions: str | None = None
    previous_response_id: str | None = None
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    tools: list[Any] | None = None
    # extensions, as on Chat Completions
    agent_type: str | None = None
    session_id: str | None = None


async def _chat_request(
    services: Services, user: User, body: ResponsesRequest
) -> tuple[ChatCompletionRequest, routing.Route]:
    if body.tools:
        raise APIError(400, "tools are not supported on /v1/responses; use /v1/chat/completions", param="tools")
    messages = responses.to_messages(body.input, body.instructions)
    # `stream` too: an agent streams the model's tokens only for a streaming caller.
    data: dict[str, Any] = {"model": body.model, "messages": messages, "stream": body.stream}
    for ours, theirs in (("max_tokens", "max_output_tokens"), ("temperature", "temperature"), ("top_p", "top_p")):
        if getattr(body, theirs) is not None:
            data[ours] = getattr(body, theirs)
    if body.agent_type:
        data["agent_type"] = body.agent_type
    previous = None
    if body.previous_response_id:
        async with services.db.session() as db:
            previous = await responses.load(db, user, body.previous_response_id)
    try:
        chat = ChatCompletionRequest.model_validate(
            {**data, "session_id": body.session_id} if body.session_id else data
        )
    except ValidationError as exc:
        raise APIError(400, str(exc.errors()[0].get("msg")), param="input") from exc
    route = await routing.route_request(services, user, chat)
    if previous is not None:
        if route.passthrough:  # the backend keeps nothing: send the conversation again
            before = json.loads(previous.conversation)
            if body.instructions:
                before = [m for m in before if m.get("role") not in ("system", "developer")]
            chat = ChatCompletionRequest.model_validate({**data, "messages": [*before, *messages]})
        elif previous.session_id:  # the session's checkpoint holds the history
            chat = ChatCompletionRequest.model_validate({**data, "session_id": previous.session_id})
    return chat, route


@router.post("/responses", response_model=None)
async def create_response(
    body: ResponsesRequest, services: ServicesDep, user: CurrentUser
) -> JSONResponse | StreamingResponse:
    chat, route = await _chat_request(services, user, body)
    answer = await responses.start(services, user, chat, route)
    rid, mid = responses.new_id(), responses.new_id("msg")

    def obj(text: str | None, usage: dict[str, Any] | None, status: str, sid: str | None) -> dict[str, Any]:
        return responses.response_object(
            rid,
            model=body.model,
            text=text,
            usage=usage,
            status=status,
            instructions=body.instructions,
            previous=body.previous_response_id,
            session_id=sid,
            message_id=mid,
        )

    if not body.stream:
        async for kind, value in answer:
            if kind == "done":
                text, usage, sid = value
                final = obj(text, usage, "completed", sid)
                await responses.save(services, user, final, chat.messages, text)
                return JSONResponse(final)
        raise APIError(500, "the run ended without a result", type_="api_error")
    return StreamingResponse(_events(services, user, chat, answer, obj, mid), media_type="text/event-stream")


async def _events(
    services: Services,
    user: User,
    chat: ChatCompletionRequest,
    answer: AsyncIterator[tuple[str, Any]],
    obj: Any,
    mid: str,
) -> AsyncIterator[str]:
    seq = 0

    def event(kind: str, **fields: Any) -> str:
        nonlocal seq
        seq += 1
        return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq, **fields})}\n\n"

    item = {"type": "message", "id": mid, "status": "in_progress", "role": "assistant", "content": []}
    where = {"item_id": mid, "output_index": 0, "content_index": 0}
    yield event("response.created", response=obj(None, None, "in_progress", None))
    yield event("response.in_progress", response=obj(None, None, "in_progress", None))
    yield event("response.output_item.added", output_index=0, item=item)
    yield event("response.content_part.added", part={"type": "output_text", "text": "", "annotations": []}, **where)
    try:
        async for kind, value in answer:
            if kind == "delta":
                yield event("response.output_text.delta", delta=value, logprobs=[], **where)
                continue
            text, usage, sid = value
            final = obj(text, usage, "completed", sid)
            part = {"type": "output_text", "text": text, "annotations": []}
            yield event("response.output_text.done", text=text, logprobs=[], **where)
            yield event("response.content_part.done", part=part, **where)
            yield event("response.output_item.done", output_index=0, item=final["output"][0])
            await responses.save(services, user, final, chat.messages, text)
            yield event("response.completed", response=final)
    except APIError as exc:
        yield event("error", code=exc.code, message=exc.message, param=exc.param)
        yield event("response.failed", response={**obj(None, None, "failed", None), "error": exc.body()["error"]})


@router.get("/responses/{response_id}")
async def get_response(response_id: str, services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    async with services.db.session() as db:
        record = await responses.load(db, user, response_id)
    stored: dict[str, Any] = json.loads(record.body)
    return stored
