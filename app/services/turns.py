"""One chat turn, from a parsed request to a `RunRequest`: which agent and backend model,
which session, what is attached, and what is stored when the turn commits.

Every database touch here is its own short transaction: nothing holds a connection while
the agent runs (the pool would otherwise cap how many chats run at once).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile

from app.db import User
from app.schemas.openai import ChatCompletionRequest, check_session_id, completion_response, new_completion_id
from app.services import continuation, idempotency, sessions, uploads
from app.services.container import Services
from app.services.routing import Route
from app.services.runner import RunRequest, RunResult
from core.errors import APIError
from graphs.deps import AgentContext
from graphs.housekeeping import is_auxiliary_prompt

__all__ = ["Turn", "prepare_turn", "response_body", "release"]

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """What the route needs to answer: the run to start, or a stored answer to replay."""

    session_id: str
    thread_id: str
    agent: str
    model_name: str
    completion_id: str
    ephemeral: bool = False
    run: RunRequest | None = None
    replay: dict[str, Any] | None = None
    idempotency_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _session_id(body: ChatCompletionRequest, header_sid: str | None, webui_chat: str | None) -> str | None:
    """The session the client names, if any."""
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
    return None


async def prepare_turn(
    services: Services,
    user: User,
    body: ChatCompletionRequest,
    files: list[UploadFile],
    route: Route,
    *,
    header_session: str | None = None,
    webui_chat: str | None = None,
    idempotency_key: str | None = None,
) -> Turn:
    assert route.agent is not None, "pass-through requests do not make agent turns"
    agent, backend_model = route.agent, route.backend_model
    named = _session_id(body, header_session, webui_chat)
    last_user = next((m.text() for m in reversed(body.messages) if m.role == "user"), "")
    auxiliary = is_auxiliary_prompt(last_user) and not files
    session_id = named or sessions.new_session_id()
    if named is None and not auxiliary:  # a client resending a whole chat continues its session
        async with services.db.read_session() as db:
            session_id = await continuation.find_session(db, user.id, body.messages) or session_id
    turn = Turn(
        session_id=session_id,
        thread_id=sessions.thread_id_for(user.id, session_id),
        agent=agent,
        model_name=body.model or agent,
        completion_id=new_completion_id(),
        headers={"X-Session-Id": session_id},
    )
    # A front end's housekeeping prompt (Open WebUI's title/tags/follow-ups) goes to `chat` in a
    # throwaway thread, whatever agent or chat id it names: it must not enter the conversation.
    created = False  # whether this request made the session (so there is nothing stored to read)
    if auxiliary:
        turn.agent, turn.ephemeral = "chat", True
        turn.thread_id = sessions.thread_id_for(user.id, f"aux-{sessions.new_session_id()}")
        attachments = ""
    else:
        if idempotency_key is not None:
            turn.idempotency_key = idempotency.record_key(user.id, idempotency_key)
            stale = services.settings.llm_timeout * 4 + services.settings.default_tool_timeout
            turn.replay = await idempotency.claim(
                services.db, user.id, turn.idempotency_key, session_id, stale_after=stale
            )
            if turn.replay is not None:
                turn.headers = {"X-Session-Id": str(turn.replay.get("x_session_id") or session_id)}
                return turn
        try:
            # Files first: a rejected upload (413/415) must not leave a new, empty session behind.
            attachments = await uploads.attach_files(services, user, session_id, files)
            first_user = next((m.text() for m in body.messages if m.role == "user"), "")
            # A request that resends earlier answers most likely continues a session: its row
            # is only read (on the reader, no write lock). Otherwise straight to the writer.
            exists = False
            if named is not None and any(m.role == "assistant" for m in body.messages):
                async with services.db.read_session() as db:
                    exists = await sessions.get_session(db, user.id, session_id) is not None
            if not exists:
                async with services.db.session() as db:
                    created = await sessions.open_session(db, user.id, session_id, agent, first_user)
        except BaseException:
            await release(services, turn)
            raise
    default_model = route.default_model
    context = AgentContext(
        user_id=user.id,
        session_id=session_id,
        model=backend_model or default_model,
        temperature=body.temperature,
        max_tokens=body.token_limit,
        max_history=services.settings.max_conversation_history,
        attachments=attachments,
        client_tools=list(body.tools or []),
        tool_choice=body.tool_choice,
        parallel_tool_calls=body.parallel_tool_calls,
    )
    turn.run = RunRequest(
        agent=turn.agent,
        messages=body.messages,
        context=context,
        stream_tokens=bool(body.stream),
        new_thread=created or turn.ephemeral,
    )
    if not turn.ephemeral:
        turn.run.on_commit = lambda result: _commit(services, turn, result)
        turn.run.on_failure = lambda: release(services, turn)
    return turn


def response_body(turn: Turn, result: RunResult) -> dict[str, Any]:
    """The non-streaming answer; also what an idempotent retry gets back."""
    reasoning = "".join(str(s.get("text", "")).rstrip() + "\n" for s in result.steps) or None
    body = completion_response(
        completion_id=turn.completion_id,
        model=turn.model_name,
        content=result.answer,
        usage=result.usage,
        session_id=turn.session_id,
        finish_reason=result.finish_reason,
        steps=result.steps,
        reasoning=reasoning,
        tool_calls=result.tool_calls,
    )
    body["created"] = int(time.time())
    return body


async def _commit(services: Services, turn: Turn, result: RunResult) -> None:
    """Store the turn's index entry and its idempotency record in one transaction."""
    async with services.db.session() as db:
        await sessions.record_turn(db, turn.thread_id, turn.agent, result.message_count)
        if turn.run is not None:
            await continuation.remember(
                db,
                turn.run.context.user_id,
                turn.session_id,
                turn.thread_id,
                turn.run.messages,
                result.answer,
                tool_calls=result.tool_calls,
            )
        if turn.idempotency_key is not None:
            await idempotency.complete(db, turn.idempotency_key, response_body(turn, result))
        await db.commit()


async def release(services: Services, turn: Turn) -> None:
    """A turn that failed or was never run gives its idempotency key back."""
    if turn.idempotency_key is not None and turn.replay is None:
        try:
            await idempotency.release(services.db, turn.idempotency_key)
        except Exception:  # the claim then goes stale and a later retry takes it over
            log.warning("could not release an idempotency key", exc_info=True)
