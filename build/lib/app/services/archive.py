"""Long sessions: the checkpoint keeps a bounded window; older messages move to a table.

Why: every checkpoint write serialises the whole message list and every turn reads it back,
so without this a turn's cost grows with the conversation (43 KB per checkpoint at turn 150,
measured with bench/gateway.py). After a turn, once the window holds more than `window`
messages, the oldest non-system ones (cut before a user message, so a tool call is never
split from its result) go to `TranscriptRow` in one transaction, with a hash chain over their
visible keys in `TranscriptState`; then they are removed from the checkpoint. The model never
saw them anyway (MAX_CONVERSATION_HISTORY is smaller than the window). System messages stay.

Reconciling a resent history compares the client's first messages with the chain, not with
the archived rows. An edit that reaches into the archive is refused with 409 (documented).
A crash between the two writes leaves the moved messages in both places; reads skip the
duplicates by message id, and the next archiving removes them from the window.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    messages_from_dict,
    messages_to_dict,
)
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from sqlmodel import delete, select

from app.db import Database, TranscriptRow, TranscriptState
from app.services.message_keys import key, visible

__all__ = ["Archived", "TranscriptArchive", "chain", "lead_length"]

log = logging.getLogger(__name__)


@dataclass
class Archived:
    visible: int = 0
    chain: str = ""


def chain(prev: str, keys: list[tuple[str, str]]) -> str:
    for role, text in keys:
        prev = hashlib.sha256(f"{prev}\x1f{role}\x1e{text}".encode()).hexdigest()
    return prev


def lead_length(messages: list[AnyMessage]) -> int:
    """How many messages at the start are system messages (they are never archived)."""
    n = 0
    while n < len(messages) and isinstance(messages[n], SystemMessage):
        n += 1
    return n


class TranscriptArchive:
    def __init__(self, db: Database, window: int) -> None:
        self.db = db
        self.window = window

    async def state(self, thread_id: str) -> Archived:
        async with self.db.read_session() as s:
            row = await s.get(TranscriptState, thread_id)
        return Archived(row.visible, row.chain) if row is not None else Archived()

    async def messages(self, thread_id: str) -> list[AnyMessage]:
        async with self.db.read_session() as s:
            rows = (
                await s.exec(
                    select(TranscriptRow).where(TranscriptRow.thread_id == thread_id).order_by(TranscriptRow.seq)  # type: ignore[arg-type]
                )
            ).all()  # type: ignore[arg-type]
        return [m for r in rows for m in messages_from_dict([json.loads(r.data)])]  # type: ignore[misc]

    async def drop(self, thread_id: str) -> None:
        async with self.db.session() as s:
            await s.exec(delete(TranscriptRow).where(TranscriptRow.thread_id == thread_id))  # type: ignore[arg-type]
            await s.exec(delete(TranscriptState).where(TranscriptState.thread_id == thread_id))  # type: ignore[arg-type]
            await s.commit()

    def _cut(self, messages: list[AnyMessage]) -> int:
        """Index before which the window's non-system messages are archived (0: nothing)."""
        lead = lead_length(messages)
        if len(messages) <= self.window + self.window // 2:  # archive in batches, not every turn
            return 0
        if any(isinstance(m, SystemMessage) for m in messages[lead:]):
            return 0  # a system message mid-conversation: keep the order simple, do not archive
        cut = len(messages) - self.window
        while cut < len(messages) and not isinstance(messages[cut], HumanMessage):
            cut += 1
        return cut if cut < len(messages) else 0

    async def maybe_archive(
        self, graph: CompiledStateGraph[Any, Any, Any, Any], config: RunnableConfig, messages: list[AnyMessage]
    ) -> None:
        cut = self._cut(messages)
        if cut == 0:
            return
        thread_id = config["configurable"]["thread_id"]
        moving = messages[lead_length(messages) : cut]
        async with self.db.session() as s:
            st = await s.get(TranscriptState, thread_id) or TranscriptState(thread_id=thread_id)
            done = (
                set(
                    (
                        await s.exec(
                            select(TranscriptRow.message_id).where(
                                TranscriptRow.thread_id == thread_id, TranscriptRow.seq >= st.rows - len(moving)
                            )
                        )
                    ).all()
                )
                if st.rows
                else set()
            )  # type: ignore[arg-type,operator]
            fresh = [m for m in moving if (m.id or "") not in done]
            for i, m in enumerate(fresh):
                s.add(
                    TranscriptRow(
                        thread_id=thread_id,
                        seq=st.rows + i,
                        message_id=m.id or "",
                        data=json.dumps(messages_to_dict([m])[0]),
                    )
                )
            shown = visible(fresh)
            st.rows += len(fresh)
            st.visible += len(shown)
            st.chain = chain(st.chain, [key(m) for m in shown])
            s.add(st)
            await s.commit()
        await graph.aupdate_state(
            config, {"messages": [RemoveMessage(id=m.id) for m in moving if m.id]}, as_node="__start__"
        )
        log.info("session %s: %d messages moved out of the checkpoint window", thread_id, len(moving))
