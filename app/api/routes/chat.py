"""`POST /v1/chat/completions`: the OpenAI wire contract (DESIGN section 5) over our agents."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app.api.deps import CurrentUser, DBDep, ServicesDep
from app.db import User
from app.schemas.openai import (
    ChatCompletionRequest,
    Usage,
    check_session_id,
    completion_chunk,
    completion_response,
    new_completion_id,
)
from app.services import runtime_settings, sessions, uploads
from app.services.container import Services
from app.services.runner import RunEvent, RunHandle, RunRequest, RunResult
from core.disconnect import unless_disconnected, until_disconnected
from core.errors import APIError
from graphs.auto import is_auxiliary_prompt
from graphs.deps import AgentContext

router = APIRouter(prefix="/v1", tags=["openai"])
log = logging.getLogger(__name__)

FIRST_EVENT_WAIT = 1.0  # seconds
_FORM_SCALARS = ("model", "agent_type", "session_id", "user")
_FORM_NUMBERS = ("temperature", "top_p", "max_tokens", "max_completion_tokens")


async def _parse_body(request: Request) -> tuple[ChatCompletionRequest, list[UploadFile]]:
    """JSON (what the openai SDK and Open WebUI send) or multipart form (the original API)."""
    ctype = request.headers.get("content-type", "")
    files: list[UploadFile] = []
    try:
        if ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            raw_messages = form.get("messages")
            if not isinstance(raw_messages, str):
                raise APIError(400, "messages: a JSON array string is required in form data", param="messages")
            data: dict[str, Any] = {"messages": json.loads(raw_messages)}
            for key in _FORM_SCALARS + _FORM_NUMBERS:
                value = form.get(key)
                if isinstance(value, str) and value != "":
                    data[key] = value
            stream = form.get("stream")
            data["stream"] = isinstance(stream, str) and stream.lower() in ("1", "true", "yes")
            files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        else:
            data = json.loads(await request.body() or b"null")
        if not isinstance(data, dict):
            raise APIError(400, "the request body must be a JSON object")
        return ChatCompletionRequest.model_validate(data), files
    except json.JSONDecodeError as exc:
        raise APIError(400, f"request body is not valid JSON: {exc.msg}", code="invalid_json") from exc
    except UnicodeDecodeError as exc:  # json.loads decodes bytes itself, and raises this, not the above
        raise APIError(400, f"request body is not valid JSON: {exc.reason}", code="invalid_json") from exc
    except RecursionError as exc:  # json.loads on thousands of nested brackets
        raise APIError(400, "request body is not valid JSON: nested too deeply", code="invalid_json") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        raise APIError(400, f"{param}: {first.get('msg')}" if param else str(first.get("msg")), param=param) from exc


def _resolve_agent(services: Services, body: ChatCompletionRequest) -> tuple[str, str | None]:
    """(agent, backend model). `agent_type` wins over `model`; a `model` that is not an
    agent names a backend model for the default agent."""
    agents = services.graphs
    if body.agent_type:
        if body.agent_type not in agents:
            raise APIError(
                400,
                f"unknown agent_type {body.agent_type!r}; choose one of {', '.join(agents)}",
                param="agent_type",
                code="unknown_agent",
            )
        model = body.model if body.model and body.model not in agents else None
        return body.agent_type, model
    if body.model in agents:
        return str(body.model), None
    default = services.settings.default_agent if services.settings.default_agent in agents else "chat"
    return default, body.model or None


def _session_id(body: ChatCompletionRequest, header_sid: str | None, webui_chat: str | None) -> str:
    for candidate, name in (
        (body.session_id, "session_id"),
        (header_sid, "X-Session-Id"),
        (webui_chat, "X-OpenWebUI-Chat-Id"),
    ):
        if candidate:
            try:
                return check_session_id(candidate) or sessions.new_session_id()
            except ValueError as exc:
                raise APIError(400, f"{name}: {exc}", param="session_id") from exc
    return sessions.new_session_id()


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    request: Request,
    services: ServicesDep,
    db: DBDep,
    user: CurrentUser,
    x_session_id: Annotated[str | None, Header()] = None,
    x_openwebui_chat_id: Annotated[str | None, Header()] = None,
) -> JSONResponse | StreamingResponse:
    body, files = await _parse_body(request)
    if any(m.role == "tool" for m in body.messages):
        raise APIError(400, "client-side tool results are not supported: tools run on the server", param="messages")
    agent, backend_model = _resolve_agent(services, body)
    session_id = _session_id(body, x_session_id, x_openwebui_chat_id)
    first_user = next((m.text() for m in body.messages if m.role == "user"), "")
    last_user = next((m.text() for m in reversed(body.messages) if m.role == "user"), "")
    # A front end's housekeeping prompt (Open WebUI's title/tags/follow-ups) goes to `chat` in a
    # throwaway thread, whatever agent or chat id it names: it must not enter the conversation.
    ephemeral = is_auxiliary_prompt(last_user) and not files
    if ephemeral:
        agent, session_id, attachments = "chat", f"aux-{sessions.new_session_id()}", ""
        thread = sessions.thread_id_for(user.id, session_id)
    else:
        # Files first: a rejected upload (413/415) must not leave a new, empty session behind.
        attachments = await uploads.attach_files(services, user, session_id, files)
        thread = (await sessions.open_session(db, user.id, session_id, agent, first_user)).thread_id
    context = AgentContext(
        user_id=user.id,
        session_id=session_id,
        model=backend_model or await runtime_settings.default_model(db),
        temperature=body.temperature,
        max_tokens=body.token_limit,
        max_history=services.settings.max_conversation_history,
        attachments=attachments,
    )
    run = RunRequest(agent=agent, messages=body.messages, context=context)
    model_name = body.model or agent
    headers = {"X-Session-Id": session_id}
    handle = services.runner.start(run, thread, ephemeral=ephemeral)

    if not body.stream:
        try:
            finished = await unless_disconnected(request, _collect(handle))
        finally:
            await handle.close()  # a client that went away cancels (and rolls back) the run
        if finished is None:
            raise APIError(409, "the client disconnected; the run was cancelled", code="cancelled")
        result = finished
        if not ephemeral:
            await _record(services, user, session_id, agent, result)
        reasoning = "".join(str(s.get("text", "")).rstrip() + "\n" for s in result.steps) or None
        return JSONResponse(
            completion_response(
                completion_id=new_completion_id(),
                model=model_name,
                content=result.answer,
                usage=result.usage,
                session_id=session_id,
                steps=result.steps,
                reasoning=reasoning,
            ),
            headers=headers,
        )

    # Give the run a moment, so one that fails at once (backend down) gets a real HTTP status;
    # a slow backend must not hold back the response headers for long.
    first = await handle.next(timeout=FIRST_EVENT_WAIT)
    if first is not None and first.kind == "error" and first.error is not None:
        await handle.close()
        raise first.error
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    sse = _sse(services, user, session_id, agent, model_name, first, handle, include_usage, ephemeral, request)
    return StreamingResponse(
        sse, media_type="text/event-stream", headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def _collect(handle: RunHandle) -> RunResult:
    async for event in handle:
        if event.kind == "error" and event.error is not None:
            raise event.error
        if event.kind == "done":
            result: RunResult = event.data["result"]
            return result
    raise APIError(500, "the run ended without a result", type_="api_error")


async def _record(services: Services, user: User, session_id: str, agent: str, result: RunResult) -> None:
    async with services.db.session() as db:
        await sessions.record_turn(db, sessions.thread_id_for(user.id, session_id), agent, result.message_count)


def _data(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _sse(
    services: Services,
    user: User,
    session_id: str,
    agent: str,
    model: str,
    first: RunEvent | None,
    handle: RunHandle,
    include_usage: bool,
    ephemeral: bool,
    request: Request,
) -> AsyncIterator[str]:
    cid, created = new_completion_id(), int(time.time())

    def chunk(**kwargs: Any) -> str:
        return _data(completion_chunk(completion_id=cid, model=model, created=created, **kwargs))

    yield chunk(delta={"role": "assistant", "content": ""}, session_id=session_id)

    async def all_events() -> AsyncIterator[RunEvent]:
        if first is not None:
            yield first
            if first.kind in ("done", "error"):
                return
        async for event in handle:
            yield event

    async def cancel_when_gone() -> None:
        # While a tool runs nothing is sent, so a failed send would notice the hang-up too late.
        await until_disconnected(request)
        handle.cancel()

    watcher = asyncio.ensure_future(cancel_when_gone())
    try:
        async for event in all_events():
            if event.kind == "content":
                yield chunk(delta={"content": event.text})
            elif event.kind == "reasoning":
                yield chunk(delta={"reasoning_content": event.text})
            elif event.kind == "error" and event.error is not None:
                yield _data(event.error.body())
                break
            elif event.kind == "done":
                result: RunResult = event.data["result"]
                if not ephemeral:
                    await _record(services, user, session_id, agent, result)
                yield chunk(delta={}, finish_reason="stop", session_id=session_id)
                if include_usage:
                    yield chunk(usage=result.usage if result.usage.total_tokens else Usage())
                break
        yield "data: [DONE]\n\n"
    finally:
        watcher.cancel()
        await handle.close()  # a client that went away cancels the run
