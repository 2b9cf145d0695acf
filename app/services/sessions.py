"""The sessions index: who owns which session, its title, agent and size.

Messages themselves live in the LangGraph checkpoint (thread id `<user_id>:<session_id>`);
this table is what listing, ownership checks and titles need without reading checkpoints.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam
from sqlalchemy import update as sa_update
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import ChatSession, insert_into, utcnow

if TYPE_CHECKING:
    from app.services.container import Services

__all__ = [
    "thread_id_for",
    "new_session_id",
    "get_session",
    "open_session",
    "record_turn",
    "title_from",
    "list_sessions",
    "count_sessions",
    "uploads_dir",
    "remove_session",
    "purge_session",
]

log = logging.getLogger(__name__)

TITLE_MAX = 60
_CANCEL_WAIT = 10.0


def thread_id_for(user_id: str, session_id: str) -> str:
    return f"{user_id}:{session_id}"


def new_session_id() -> str:
    return uuid.uuid4().hex


def title_from(text: str) -> str:
    """A cheap title: the first user message, one line, cut at a word boundary."""
    line = " ".join(text.split())
    if len(line) <= TITLE_MAX:
        return line or "New chat"
    cut = line[:TITLE_MAX].rsplit(" ", 1)[0]
    return (cut or line[:TITLE_MAX]) + "…"


async def get_session(db: AsyncSession, user_id: str, session_id: str) -> ChatSession | None:
    return await db.get(ChatSession, thread_id_for(user_id, session_id))


@functools.cache
def _open_statement(dialect: str) -> Any:
    """Built once and run with parameters: building it (and a row object) cost more CPU than running it."""
    return insert_into(dialect, ChatSession.__table__).on_conflict_do_nothing(index_elements=["thread_id"])  # type: ignore[attr-defined]


@functools.cache
def _turn_statement() -> Any:
    table = ChatSession.__table__.c  # type: ignore[attr-defined]
    return (
        sa_update(ChatSession.__table__)  # type: ignore[attr-defined]
        .where(table.thread_id == bindparam("tid"))
        .values(agent=bindparam("new_agent"), message_count=bindparam("count"), updated_at=bindparam("now"))
    )


async def open_session(db: AsyncSession, user_id: str, session_id: str, agent: str, first_text: str) -> bool:
    """The caller's session, created on first use and committed; an existing one is left as
    it is. One statement, no read first (this runs on every turn that names a new session).
    True when it was created. Another user's session of the same id is a different row:
    neither readable nor writable from here."""
    now = utcnow()
    row = {
        "thread_id": thread_id_for(user_id, session_id),
        "session_id": session_id,
        "user_id": user_id,
        "agent": agent,
        "title": title_from(first_text),
        "created_at": now,
        "updated_at": now,
        "message_count": 0,
    }
    created = (await db.exec(_open_statement(db.get_bind().dialect.name), params=row)).rowcount == 1
    await db.commit()
    return created


async def record_turn(db: AsyncSession, thread_id: str, agent: str, message_count: int) -> None:
    """One UPDATE, no read first: this runs on every chat turn. The caller commits (with
    the turn's idempotency record, in one transaction)."""
    params = {"tid": thread_id, "new_agent": agent, "count": message_count, "now": utcnow()}
    await db.exec(_turn_statement(), params=params)


async def list_sessions(db: AsyncSession, user_id: str, *, limit: int = 50, offset: int = 0) -> list[ChatSession]:
    query = (
        select(ChatSession)
        .where(ChatSession.user_id == user_id)
        .order_by(ChatSession.updated_at.desc())  # type: ignore[attr-defined]
        .offset(offset)
        .limit(limit)
    )
    return list((await db.exec(query)).all())


async def count_sessions(db: AsyncSession, user_id: str) -> int:
    query = select(func.count()).select_from(ChatSession).where(ChatSession.user_id == user_id)
    return int((await db.exec(query)).one())


def uploads_dir(data_dir: Path, user_id: str, session_id: str) -> Path:
    """`DATA_DIR/uploads/<user>/<session>/`; both ids are validated single path components."""
    return data_dir / "uploads" / user_id / session_id


async def purge_session(services: Services, row: ChatSession) -> None:
    """Delete a session's data everywhere but its row: its running request, checkpoints,
    uploads, workspace. Holds no database connection (it waits on the run and the tools app).

    The run is cancelled and waited for first, so its rollback cannot write a checkpoint
    back after the delete. A tools app that is down leaves the workspace behind (logged):
    the session is still gone for the user.
    """
    await services.runner.stop(row.thread_id, _CANCEL_WAIT)
    if services.checkpointer is not None:
        await services.checkpointer.adelete_thread(row.thread_id)
    if services.runner.archive is not None:
        await services.runner.archive.drop(row.thread_id)
    folder = uploads_dir(services.settings.data_dir, row.user_id, row.session_id)
    await asyncio.to_thread(shutil.rmtree, folder, True)
    if services.tools_client is not None:
        result = await services.tools_client.delete_workspace(row.user_id, row.session_id)
        if not result.success:
            log.warning("workspace of session %s not removed: %s", row.thread_id, result.answer)


async def remove_session(services: Services, db: AsyncSession, row: ChatSession) -> None:
    """`purge_session`, then the row, in the caller's session."""
    await purge_session(services, row)
    await db.delete(row)
    await db.commit()
