"""The sessions index: who owns which session, its title, agent and size.

Messages themselves live in the LangGraph checkpoint (thread id `<user_id>:<session_id>`);
this table is what listing, ownership checks and titles need without reading checkpoints.
"""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import ChatSession, utcnow

__all__ = ["thread_id_for", "new_session_id", "get_session", "open_session", "record_turn", "title_from"]

TITLE_MAX = 60


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


async def open_session(db: AsyncSession, user_id: str, session_id: str, agent: str, first_text: str) -> ChatSession:
    """The caller's session, created on first use. Another user's session of the same id
    is a different row, so it is neither readable nor writable from here."""
    found = await get_session(db, user_id, session_id)
    if found is not None:
        return found
    row = ChatSession(
        thread_id=thread_id_for(user_id, session_id), session_id=session_id, user_id=user_id,
        agent=agent, title=title_from(first_text),
    )
    db.add(row)
    try:
        await db.commit()
    except Exception:  # created concurrently by another request of the same user
        await db.rollback()
        existing = await get_session(db, user_id, session_id)
        if existing is None:
            raise
        return existing
    await db.refresh(row)
    return row


async def record_turn(db: AsyncSession, row: ChatSession, agent: str, message_count: int) -> None:
    row.agent = agent
    row.message_count = message_count
    row.updated_at = utcnow()
    db.add(row)
    await db.commit()


async def list_sessions(db: AsyncSession, user_id: str, *, limit: int = 50, offset: int = 0) -> list[ChatSession]:
    query = (
        select(ChatSession)
        .where(ChatSession.user_id == user_id)
        .order_by(ChatSession.updated_at.desc())  # type: ignore[attr-defined]
        .offset(offset)
        .limit(limit)
    )
    return list((await db.exec(query)).all())
