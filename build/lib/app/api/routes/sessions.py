"""The caller's chat sessions: list, read history, rename, delete, cancel a running request.

Session ids are per user (the row key is `<user_id>:<session_id>`), so another user's
id is simply not found: 404 everywhere, never 403, which would reveal that it exists.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.api.deps import CurrentUser, DBDep, ServicesDep
from app.db import ChatSession, User
from app.schemas.openai import check_session_id
from app.schemas.sessions import SessionPublic
from app.services import sessions, transcripts
from core.errors import APIError

router = APIRouter(prefix="/api/chat", tags=["sessions"])

_STOP_WAIT = 10.0  # seconds a delete waits for a run elsewhere to roll back


class SessionUpdate(BaseModel):
    title: str = Field(min_length=1, max_length=200)


def _public(row: ChatSession) -> SessionPublic:
    return SessionPublic(
        id=row.session_id,
        title=row.title,
        agent=row.agent,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=row.message_count,
    )


def _not_found(session_id: str) -> APIError:
    return APIError(404, f"no session {session_id!r}", code="session_not_found")


async def _owned(db: DBDep, owner_id: str, session_id: str) -> ChatSession:
    try:
        valid = check_session_id(session_id)
    except ValueError:
        valid = None
    row = await sessions.get_session(db, owner_id, valid) if valid else None
    if row is None:
        raise _not_found(session_id)
    return row


@router.get("/sessions")
async def list_sessions(
    db: DBDep,
    user: CurrentUser,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Newest activity first."""
    rows = await sessions.list_sessions(db, user.id, limit=limit, offset=offset)
    total = await sessions.count_sessions(db, user.id)
    return {
        "object": "list",
        "data": [_public(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(rows) < total,
    }


@router.get("/sessions/{session_id}")
async def get_session(session_id: str, services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    async with services.db.session() as db:  # closed before the lease is read (one connection at a time)
        row = await _owned(db, user.id, session_id)
    return {**_public(row).model_dump(mode="json"), "running": await _running(services, row.thread_id)}


async def _running(services: ServicesDep, thread_id: str) -> bool:
    """Running in any worker or replica (its run lease), not only in this process."""
    if services.cancellation is None:
        return services.runner.is_running(thread_id)
    return await services.cancellation.is_running(thread_id)


@router.patch("/sessions/{session_id}")
async def rename_session(session_id: str, body: SessionUpdate, db: DBDep, user: CurrentUser) -> SessionPublic:
    row = await _owned(db, user.id, session_id)
    title = " ".join(body.title.split())
    if not title:
        raise APIError(422, "title: must not be blank", param="title")
    row.title = title
    db.add(row)
    await db.commit()
    await db.refresh(row)
    return _public(row)


@router.delete("/sessions/{session_id}")
async def delete_session(session_id: str, services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    """Removes the session row, its checkpoints, its uploads and its python workspace. The
    clean-up waits on the run and the tools app, so no connection is held meanwhile."""
    async with services.db.session() as db:
        row = await _owned(db, user.id, session_id)
    if services.cancellation is not None:  # a run in another process: stopped and rolled back first
        await services.cancellation.stop(row.thread_id, _STOP_WAIT)
    await sessions.purge_session(services, row)
    async with services.db.session() as db:
        found = await db.get(ChatSession, row.thread_id)
        if found is not None:
            await db.delete(found)
            await db.commit()
    return {"id": session_id, "object": "chat.session", "deleted": True}


@router.post("/sessions/{session_id}/cancel")
async def cancel_session(
    session_id: str,
    services: ServicesDep,
    user: CurrentUser,
    user_id: str | None = Query(None, description="admins only: the owner of the session"),
) -> dict[str, Any]:
    """Stop this session's running request (it is rolled back). `cancelled` is false when
    nothing was running. Works from any worker or replica: the process running the request
    sees the cancel within `CANCEL_POLL_SECONDS` (app.services.cancellation)."""
    owner = _owner(user, user_id)
    async with services.db.session() as db:
        row = await _owned(db, owner, session_id)
    if services.cancellation is None:
        return {"id": session_id, "cancelled": services.runner.cancel(row.thread_id)}
    return {"id": session_id, "cancelled": await services.cancellation.request(row.thread_id)}


def _owner(user: User, user_id: str | None) -> str:
    """Whose session a path names: the caller's, or for an admin whoever `user_id` says.
    A non-admin naming someone else gets the same 404 as for a missing session."""
    if user_id is None or user_id == user.id:
        return user.id
    if user.role == "admin":
        return user_id
    raise APIError(404, "no such session", code="session_not_found")


@router.get("/history/{session_id}")
async def history(session_id: str, services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    """The messages stored in the session's checkpoint, in OpenAI format."""
    async with services.db.session() as db:
        row = await _owned(db, user.id, session_id)
    archive = services.runner.archive
    archived = await archive.messages(row.thread_id) if archive is not None else []
    messages = await transcripts.session_history(services.graphs, row.agent, row.thread_id, archived)
    return {"id": session_id, "object": "chat.history", "title": row.title, "agent": row.agent, "messages": messages}
