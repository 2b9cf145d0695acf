"""Small text helpers the agents share: previews for progress narration, the user's request,
and the visible conversation for internal model calls. Kept apart so agents need not import
each other for them."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from graphs.deps import trim_history

__all__ = ["short", "last_user_text", "visible_conversation"]


def short(value: Any, limit: int = 200) -> str:
    """A one-line preview of a tool argument or result, for progress narration."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def last_user_text(messages: list[AnyMessage]) -> str:
    """The latest user message as plain text ("" when there is none)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


def visible_conversation(messages: list[AnyMessage], limit: int) -> list[AnyMessage]:
    """The user-visible conversation (no tool traffic, no client system prompt), trimmed,
    for internal calls such as the router and the planner, which are made without tools."""
    visible: list[AnyMessage] = [
        m for m in messages if isinstance(m, HumanMessage) or (isinstance(m, AIMessage) and not m.tool_calls)
    ]
    return trim_history(visible, limit)
