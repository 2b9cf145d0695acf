"""`POST /v1/chat/completions`: the OpenAI wire contract (DESIGN section 5) over our agents.

Thin on purpose: the body is parsed by a dependency (`app.api.chat_body`), the turn is
prepared by `app.services.turns`, the run by `app.services.runner`, and the stream framed
by `app.services.sse`. No database connection is held here while the agent runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from app.api.chat_body import ChatInputDep
from app.api.deps import CurrentUser, ServicesDep
from app.schemas.openai import ChatCompletionRequest
from app.services import answer_format, passthrough, routing, turns
from app.services.answer_format import FormattingHandle
from app.services.container import Services
from app.services.runner import RunHandle, RunResult
from app.services.sse import replay_events, run_events
from app.services.stops import StoppingHandle
from core.disconnect import unless_disconnected, until_disconnected
from core.errors import APIError

router = APIRouter(prefix="/v1", tags=["openai"])

FIRST_EVENT_WAIT = 1.0  # seconds
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    request: Request,
    services: ServicesDep,
    user: CurrentUser,
    chat: ChatInputDep,
    x_session_id: Annotated[str | None, Header()] = None,
    x_openwebui_chat_id: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse | StreamingResponse:
    body = chat.body
    route = await routing.route_request(services, user, body)
    if route.passthrough:
        if chat.files:
            raise APIError(400, "files need an agent: name one with agent_type", param="files")
        return await _passthrough(services, body)
    if any(m.role == "tool" for m in body.messages):
        raise APIError(
            400,
            "role 'tool' messages go to backend models (pass-through); agents run their own tools",
            param="messages",
        )
    fmt = answer_format.check_format((body.model_extra or {}).get("response_format"))
    turn = await turns.prepare_turn(
        services,
        user,
        body,
        chat.files,
        route,
        header_session=x_session_id,
        webui_chat=x_openwebui_chat_id,
        idempotency_key=idempotency_key,
    )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if turn.replay is not None:
        if body.stream:
            sse = replay_events(turn.replay, include_usage=include_usage)
            return StreamingResponse(sse, media_type="text/event-stream", headers={**turn.headers, **_SSE_HEADERS})
        return JSONResponse(turn.replay, headers=turn.headers)
    assert turn.run is not None
    handle = services.runner.start(turn.run, turn.thread_id, ephemeral=turn.ephemeral)
    if fmt is not None:  # the final answer reshaped as JSON (app.services.answer_format)
        handle = FormattingHandle(
            handle.queue, handle.task, llm=services.llm, model=turn.run.context.model, messages=body.messages, fmt=fmt
        )
    elif body.stop:  # the answer ends before the first stop sequence (app.services.stops)
        handle = StoppingHandle(
            handle.queue, handle.task, stops=[body.stop] if isinstance(body.stop, str) else body.stop
        )

    if not body.stream:
        try:
            finished = await unless_disconnected(request, _collect(handle))
        finally:
            await handle.close()  # a client that went away cancels (and rolls back) the run
        if finished is None:
            raise APIError(409, "the client disconnected; the run was cancelled", code="cancelled")
        return JSONResponse(turns.response_body(turn, finished), headers=turn.headers)

    # Give the run a moment, so one that fails at once (backend down) gets a real HTTP status;
    # a slow backend must not hold back the response headers for long.
    first = await handle.next(timeout=FIRST_EVENT_WAIT)
    if first is not None and first.kind == "error" and first.error is not None:
        await handle.close()
        raise first.error
    sse = run_events(
        handle,
        first,
        completion_id=turn.completion_id,
        model=turn.model_name,
        session_id=turn.session_id,
        include_usage=include_usage,
        until_gone=lambda: until_disconnected(request),
    )
    return StreamingResponse(sse, media_type="text/event-stream", headers={**turn.headers, **_SSE_HEADERS})


async def _passthrough(services: Services, body: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
    """A backend model named without an agent: the backend's own answer (not stored)."""
    if not body.stream:
        return JSONResponse(await passthrough.complete(services.llm, body))
    sse = await passthrough.open_stream(services.llm, body)
    return StreamingResponse(sse, media_type="text/event-stream", headers=_SSE_HEADERS)


async def _collect(handle: RunHandle) -> RunResult:
    async for event in handle:
        if event.kind == "error" and event.error is not None:
            raise event.error
        if event.kind == "done":
            result: RunResult = event.data["result"]
            return result
    raise APIError(500, "the run ended without a result", type_="api_error")
