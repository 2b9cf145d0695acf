"""One way to read a session's stored messages: from its latest checkpoint.

Every graph keeps the conversation in its `messages` channel, so any graph compiled with the
shared checkpointer reads any session's transcript. The runner (reconciling history before a
turn) and the history route (showing it) both read through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AnyMessage, convert_to_openai_messages
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

__all__ = ["thread_config", "read_messages", "to_openai", "session_history"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def thread_config(thread_id: str) -> RunnableConfig:
    """The LangGraph config that addresses one session's checkpoint thread."""
    return {"configurable": {"thread_id": thread_id}}


async def read_messages(graph: CompiledStateGraph[Any, Any, Any, Any], thread_id: str) -> list[AnyMessage]:
    """The session's stored messages, oldest first (empty for a thread never written)."""
    snapshot = await graph.aget_state(thread_config(thread_id))
    return list((snapshot.values or {}).get("messages", []))


def to_openai(messages: list[AnyMessage]) -> list[dict[str, Any]]:
    """The messages in OpenAI chat format, each with its stored `id`."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        try:
            item = dict(convert_to_openai_messages(msg))
        except Exception:  # an unusual content block must not make the whole history a 500
            item = {"role": _ROLES.get(msg.type, msg.type), "content": str(msg.content)}
        if msg.id:
            item["id"] = msg.id
        out.append(item)
    return out


async def session_history(
    graphs: Mapping[str, CompiledStateGraph[Any, Any, Any, Any]],
    agent: str,
    thread_id: str,
    archived: list[AnyMessage] | None = None,
) -> list[dict[str, Any]]:
    """A session's transcript in OpenAI format, read through its own agent's graph (or any
    graph, if that agent is gone: they all share the checkpointer). `archived`: the messages a
    long session moved out of its checkpoint (app/services/archive.py), which come after the
    leading system messages and before the window."""
    graph = graphs.get(agent) or next(iter(graphs.values()))
    window = await read_messages(graph, thread_id)
    if archived:
        ids = {m.id for m in archived if m.id}
        lead = 0
        while lead < len(window) and window[lead].type == "system":
            lead += 1
        window = window[:lead] + archived + [m for m in window[lead:] if not (m.id and m.id in ids)]
    return to_openai(window)
