"""One front-end chat is one session, even when the client names no session.

Open WebUI (with its default `ENABLE_FORWARD_USER_INFO_HEADERS=false`) sends neither a session
id nor its chat id; it resends the whole visible conversation each turn. After every stored
turn we keep a hash of the visible conversation (user and assistant texts, system prompts
and reasoning left out) per session; a request with no session id whose history (everything
before its last user message, at least one assistant message) hashes to one of those
continues that session: the user's most recent one if several match. The hash is one indexed
lookup, so finding the session costs the same however long the conversation is.

The table is created by `SQLModel.metadata.create_all` like the others (it is new, so no
migration is needed); a deleted session's row is ignored (the lookup joins `chatsession`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import ChatSession, ConversationHash, insert_into, utcnow
from app.schemas.openai import ChatMessageIn

__all__ = ["ConversationHash", "visible", "history_hash", "find_session", "remember"]

_DETAILS = re.compile(r"<details\b[^>]*>.*?</details>", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _clean(text: str) -> str:
    """What the user saw: a front end folds our reasoning into `<details>` (Open WebUI) or
    `<think>` blocks when it sends the history back; whitespace may differ."""
    return " ".join(_THINK.sub("", _DETAILS.sub("", text)).split())


def _calls(ids: Sequence[str]) -> str:
    """A tool-calling assistant turn is known by its call ids too (a paused client-tools turn
    has no text): a stateless caller's next request, resending it, continues that session."""
    return f"\x00tool_calls:{','.join(ids)}" if ids else ""


def visible(messages: Sequence[ChatMessageIn]) -> list[tuple[str, str]]:
    return [
        (m.role, _clean(m.text()) + _calls([str(c.get("id")) for c in m.tool_calls or []]))
        for m in messages
        if m.role in ("user", "assistant")
    ]


def history_hash(turns: Sequence[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for role, text in turns:
        h.update(role.encode())
        h.update(b"\x00")
        h.update(text.encode())
        h.update(b"\x01")
    return h.hexdigest()


def resent_prefix(messages: Sequence[ChatMessageIn]) -> str | None:
    """The hash of the history a request resends (all before its last user message), or
    None when it resends no assistant message (a new chat)."""
    seen = visible(messages)
    while seen and seen[-1][0] == "user":
        seen.pop()
    if not any(role == "assistant" for role, _ in seen):
        return None
    return history_hash(seen)


async def find_session(db: AsyncSession, user_id: str, messages: Sequence[ChatMessageIn]) -> str | None:
    digest = resent_prefix(messages)
    if digest is None:
        return None
    query = (
        select(ConversationHash.session_id)
        .join(ChatSession, col(ChatSession.thread_id) == col(ConversationHash.thread_id))
        .where(ConversationHash.user_id == user_id, ConversationHash.digest == digest)
        .order_by(col(ConversationHash.updated_at).desc())
        .limit(1)
    )
    return (await db.exec(query)).first()


async def remember(
    db: AsyncSession,
    user_id: str,
    session_id: str,
    thread_id: str,
    messages: Sequence[ChatMessageIn],
    answer: str,
    *,
    tool_calls: Sequence[dict[str, Any]] = (),
) -> None:
    """Record the conversation as it stands after this turn (the caller commits)."""
    ids = [str(c.get("id")) for c in tool_calls]
    digest = history_hash([*visible(messages), ("assistant", _clean(answer) + _calls(ids))])
    values = {
        "thread_id": thread_id,
        "user_id": user_id,
        "session_id": session_id,
        "digest": digest,
        "updated_at": utcnow(),
    }
    await db.exec(_remember_statement(db.get_bind().dialect.name), params=values)  # one statement, no ORM flush


@functools.cache
def _remember_statement(dialect: str) -> Any:
    """The upsert, built once and run with parameters (building it cost more than running it)."""
    stmt = insert_into(dialect, ConversationHash.__table__)  # type: ignore[attr-defined]
    kept = ("user_id", "session_id", "digest", "updated_at")
    return stmt.on_conflict_do_update(index_elements=["thread_id"], set_={c: stmt.excluded[c] for c in kept})
