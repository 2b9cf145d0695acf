"""Reconcile what the client sent with what the checkpoint already holds.

Most clients resend the whole conversation every turn; some (seed-style) send only the
new message. The stored history must stay a faithful record: each user message once,
internal tool traffic kept. We compare the client's messages with the *visible* stored
messages (system, human, and AI answers without tool calls) and work out the new tail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)

from app.schemas.openai import ChatMessageIn
from app.services.archive import Archived, chain, lead_length
from app.services.message_keys import key, visible

__all__ = ["Reconciled", "ArchiveEdit", "to_langchain", "visible", "key", "reconcile"]


@dataclass
class Reconciled:
    new: list[AnyMessage]
    removed: list[RemoveMessage] = field(default_factory=list)

    @property
    def update(self) -> list[BaseMessage]:
        return [*self.removed, *self.new]


def to_langchain(msg: ChatMessageIn) -> AnyMessage:
    """OpenAI message → LangChain message, with a fresh id so a failed turn can be undone."""
    text = msg.text()
    mid = uuid.uuid4().hex
    if msg.role in ("system", "developer"):
        return SystemMessage(text, id=mid)
    if msg.role == "user":
        return HumanMessage(text, id=mid, name=msg.name) if msg.name else HumanMessage(text, id=mid)
    if msg.role == "assistant":
        return AIMessage(text, id=mid)
    return ToolMessage(text, tool_call_id=msg.tool_call_id or "client", id=mid)


class ArchiveEdit(Exception):
    """The client's history diverges inside the part of the session moved to the archive."""


def reconcile(stored: list[AnyMessage], incoming: list[ChatMessageIn], archived: Archived | None = None) -> Reconciled:
    """Work out which of the client's messages are new, and what (if anything) the client
    has rewound or edited.

    - The client's messages extend the stored conversation: only the tail is new.
    - The client sent no assistant messages (seed-style, or only a new question): they are
      all new, except system messages the session already has.
    - The client's history diverges (edited an earlier turn, or regenerates the last
      answer): its version wins; stored messages after the common prefix are removed.
    """
    converted = [to_langchain(m) for m in incoming]
    seen = visible(stored)
    seen_keys: list[tuple[str, str] | None] = [key(m) for m in seen]
    in_keys = [key(m) for m in converted]
    lead = lead_length(seen)
    archived_n = archived.visible if archived is not None else 0
    if archived_n:
        # The archived messages sit between the leading system messages and the window; they
        # match the client's if the chain over the client's same span is the stored chain.
        span = in_keys[lead : lead + archived_n]
        same = archived is not None and len(span) == archived_n and chain("", span) == archived.chain
        seen_keys[lead:lead] = list(span) if same else [None] * archived_n
        seen[lead:lead] = [None] * archived_n  # type: ignore[list-item]

    common = 0
    while common < min(len(seen_keys), len(in_keys)) and seen_keys[common] == in_keys[common]:
        common += 1

    if common == len(seen_keys):
        return Reconciled(new=converted[common:])
    if not any(isinstance(m, AIMessage) for m in converted):
        stored_system = {k for k in seen_keys if k is not None and k[0] == "system"}
        return Reconciled(
            new=[m for m, k in zip(converted, in_keys, strict=True) if not (k[0] == "system" and k in stored_system)]
        )
    # Divergence: drop everything stored after the last message both sides agree on.
    if archived_n and common < lead + archived_n:
        raise ArchiveEdit("the edit reaches into the archived part of this long session")
    if common == 0:
        cut_index = 0
    else:
        anchor = seen[common - 1]
        cut_index = next(i for i, m in enumerate(stored) if m is anchor) + 1
    removed = [RemoveMessage(id=m.id) for m in stored[cut_index:] if m.id]
    return Reconciled(new=converted[common:], removed=removed)
