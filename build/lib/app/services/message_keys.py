"""What identifies a message when a client's history is compared with the stored one."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage

__all__ = ["key", "visible"]


def key(message: AnyMessage) -> tuple[str, str]:
    content = message.content if isinstance(message.content, str) else message.text
    return message.type, " ".join(str(content).split())


def visible(messages: list[AnyMessage]) -> list[AnyMessage]:
    out: list[AnyMessage] = []
    for m in messages:
        if isinstance(m, SystemMessage | HumanMessage):
            out.append(m)
        elif isinstance(m, AIMessage) and not m.tool_calls:
            out.append(m)
    return out
