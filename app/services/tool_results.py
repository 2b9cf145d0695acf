"""The caller's results for client tool calls: resuming a paused run, or abandoning it.

A run that paused for client tools (`graphs.client_tools`) left its checkpoint at the
tool-calling turn, with a pending LangGraph interrupt. The caller's next request in that
session decides what happens:

- It ends with `role: "tool"` messages answering exactly the pending calls (after the
  conversation as stored, resent or not, and the assistant tool-call message, echoed or
  not): the run resumes from its checkpoint with `Command(resume={tool_call_id: result})`.
  (Where the interrupt is gone, a failed resume having been rolled back, the results go in
  as messages and the agent continues from them: the same turn.)
- Its tool results do not match the pending calls (a wrong, missing or extra
  `tool_call_id`): 400, and nothing is stored.
- It brings a new user message instead: the pending calls are abandoned. Each gets a tool
  result (the caller's, if the request has one for that id, else `ABANDONED`), so the
  stored history stays a valid OpenAI conversation, and the new message starts a new run.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from app.schemas.openai import ChatMessageIn
from app.services.archive import Archived
from app.services.history import Reconciled, reconcile
from core.errors import APIError
from graphs.client_tools import unanswered

__all__ = ["ABANDONED", "resume_input", "turn_input"]

ABANDONED = "(no result: the client sent a new message instead of running this tool)"


def _split(incoming: list[ChatMessageIn]) -> tuple[list[ChatMessageIn], list[ChatMessageIn]]:
    """(the conversation before the caller's trailing tool results, those results)."""
    j = len(incoming)
    while j > 0 and incoming[j - 1].role == "tool":
        j -= 1
    head, results = incoming[:j], incoming[j:]
    if head and head[-1].role == "assistant" and head[-1].tool_calls:
        head = head[:-1]  # the caller's echo of the tool-calling turn: stored already
    return head, results


async def resume_input(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    config: RunnableConfig,
    stored: list[AnyMessage],
    incoming: list[ChatMessageIn],
    archived: Archived | None,
) -> Any | None:
    """The graph input that continues a paused turn with the caller's tool results, or None
    when the request brings none, or the session waits for none (an ordinary turn then)."""
    pending = unanswered(stored)
    head, results = _split(incoming)
    if not pending or not results:
        return None  # with pending calls, a new message abandons them (`turn_input`)
    expected = [str(c["id"]) for c in pending]
    ids = [r.tool_call_id for r in results]
    if sorted(ids) != sorted(expected):  # type: ignore[type-var]
        raise APIError(
            400,
            f"the session waits for the results of tool calls {', '.join(expected)}; "
            f"got {', '.join(str(i) for i in ids)}",
            param="messages",
            code="tool_call_id_mismatch",
        )
    if head:
        plan = reconcile(stored, head, archived)
        if plan.new or plan.removed:
            raise APIError(
                400,
                "tool results must follow the conversation as stored; a changed history "
                "cannot answer the pending tool calls",
                param="messages",
                code="tool_results_out_of_place",
            )
    values = {str(r.tool_call_id): r.text() for r in results}
    if (await graph.aget_state(config)).interrupts:
        return Command(resume=values)
    return {
        "messages": [
            ToolMessage(values[str(c["id"])], tool_call_id=str(c["id"]), name=c["name"], id=uuid.uuid4().hex)
            for c in pending
        ]
    }


def turn_input(stored: list[AnyMessage], plan: Reconciled, incoming: list[ChatMessageIn]) -> dict[str, Any]:
    """An ordinary turn's graph input. Pending client calls that a new message leaves behind
    get results (the caller's, where it sent one for that id; else `ABANDONED`) and the
    caller's echo of that round is not added twice. Nothing changes when the caller's edit
    removes the tool-calling turn itself."""
    pending = unanswered(stored)
    removed = {r.id for r in plan.removed}
    if not pending or (stored and stored[-1].id in removed):
        return {"messages": plan.update}
    ids = {c["id"] for c in pending}
    given = {m.tool_call_id: m.text() for m in incoming if m.role == "tool"}
    closing: list[BaseMessage] = [
        ToolMessage(given.get(c["id"], ABANDONED), tool_call_id=c["id"], name=c["name"], id=uuid.uuid4().hex)
        for c in pending
    ]
    new = [
        m
        for m in plan.new
        if not (isinstance(m, ToolMessage) and m.tool_call_id in ids)
        and not (isinstance(m, AIMessage) and {c["id"] for c in m.tool_calls} & ids)
    ]
    return {"messages": [*plan.removed, *closing, *new]}
