"""Client tools on agents, the API side: check what the caller sent, and translate tool calls
between OpenAI's wire format and LangChain's. The graph side (binding, pausing) is
`graphs.client_tools`; resuming a paused run with the caller's results is
`app.services.tool_results`.

The caller's `tools` join the agent's own (`chat`, `react`, and `auto`, which then routes only
to those two). `plan_execute` and `ultrawork` run long internal plans that cannot stop
halfway for the caller, so they refuse client tools, and tool traffic in the history, with a
400 that names the agents that take them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import ToolCall

from app.schemas.openai import ChatCompletionRequest, ChatMessageIn
from core.errors import APIError
from graphs.registry import CLIENT_TOOL_AGENTS

__all__ = ["check_request", "check_messages", "lc_tool_calls", "openai_tool_calls", "paused_calls"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHOICES = ("none", "auto", "required")


def _bad(message: str, param: str) -> APIError:
    return APIError(400, message, param=param)


def check_request(body: ChatCompletionRequest, agent: str, own_tools: Iterable[str]) -> None:
    """400 for client tools an agent cannot take, or that are malformed; nothing runs before."""
    tool_traffic = any(m.role == "tool" or (m.role == "assistant" and m.tool_calls) for m in body.messages)
    if not body.tools and not tool_traffic:
        if body.tool_choice not in (None, "none", "auto"):
            raise _bad("tool_choice needs tools", "tool_choice")
        return
    if agent not in CLIENT_TOOL_AGENTS:
        raise _bad(
            f"the {agent} agent does not take client tools or tool messages; the agents that do: "
            f"{', '.join(CLIENT_TOOL_AGENTS)} (or name a backend model to pass them through)",
            "tools" if body.tools else "messages",
        )
    names = _check_specs(body.tools or [], set(own_tools))
    _check_choice(body.tool_choice, names)
    check_messages(body.messages)


def _check_specs(specs: list[dict[str, Any]], own: set[str]) -> set[str]:
    names: set[str] = set()
    for i, spec in enumerate(specs):
        fn = spec.get("function")
        if spec.get("type") != "function" or not isinstance(fn, dict):
            raise _bad("only function tools are supported: {'type': 'function', 'function': {...}}", f"tools[{i}]")
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _bad("a tool name is 1-64 letters, digits, '_' or '-'", f"tools[{i}].function.name")
        if name in names:
            raise _bad(f"two tools are named {name!r}", f"tools[{i}].function.name")
        if name in own:
            raise _bad(f"{name!r} is one of the agent's own tools; rename yours", f"tools[{i}].function.name")
        if not isinstance(fn.get("parameters", {}), dict):
            raise _bad("parameters must be a JSON schema object", f"tools[{i}].function.parameters")
        names.add(name)
    return names


def _check_choice(choice: str | dict[str, Any] | None, names: set[str]) -> None:
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in _CHOICES:
            raise _bad(f"tool_choice must be one of {', '.join(_CHOICES)} or a function", "tool_choice")
        if choice == "required" and not names:
            raise _bad("tool_choice 'required' needs tools", "tool_choice")
        return
    name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" else None
    if name not in names:
        raise _bad(f"tool_choice names {name!r}, which is not in tools", "tool_choice")


def check_messages(messages: Sequence[ChatMessageIn]) -> None:
    """Tool traffic in a history as OpenAI requires it: each `tool` message answers a call of
    the assistant message just before its block (a leading block answers a paused run's
    calls), and an assistant turn whose calls got results got all of them."""
    calls: set[str] | None = None
    answered: set[str] = set()
    leading = True
    for i, m in enumerate([*messages, None]):
        if m is not None and m.role == "tool":
            if not m.tool_call_id:
                raise _bad("a tool message needs the tool_call_id it answers", f"messages[{i}].tool_call_id")
            if calls is None and not leading:
                raise _bad("a tool message must follow an assistant message with tool_calls", f"messages[{i}]")
            if calls is not None and (m.tool_call_id not in calls or m.tool_call_id in answered):
                raise _bad(
                    f"tool_call_id {m.tool_call_id!r} answers no pending call of the assistant message before it",
                    f"messages[{i}].tool_call_id",
                )
            answered.add(m.tool_call_id)
            continue
        if calls is not None and answered and answered != calls:
            missing = ", ".join(sorted(calls - answered))
            raise _bad(f"tool calls without a result: {missing}", f"messages[{i - 1}]")
        leading = False
        calls, answered = None, set()
        if m is not None and m.role == "assistant" and m.tool_calls:
            calls = {str(c["id"]) for c in lc_tool_calls(m.tool_calls, param=f"messages[{i}].tool_calls")}


def lc_tool_calls(raw: Sequence[Mapping[str, Any]] | None, *, param: str = "messages") -> list[ToolCall]:
    """OpenAI `tool_calls` → LangChain tool calls (arguments parsed); 400 when malformed."""
    out: list[ToolCall] = []
    for call in raw or []:
        fn = call.get("function") or {}
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except (TypeError, ValueError) as exc:
            raise _bad("function.arguments must be a JSON object", param) from exc
        if not call.get("id") or not fn.get("name") or not isinstance(args, dict):
            raise _bad("a tool call needs an id, a function name and JSON object arguments", param)
        out.append(ToolCall(name=str(fn["name"]), args=args, id=str(call["id"]), type="tool_call"))
    return out


def openai_tool_calls(calls: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """LangChain tool calls → OpenAI's `tool_calls` entries."""
    return [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c.get("args") or {}, ensure_ascii=False)},
        }
        for c in calls
    ]


def paused_calls(final: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The client tool calls a run paused for (its last `values` item carries LangGraph's
    `__interrupt__`), in OpenAI's format; empty when the run finished."""
    calls: list[dict[str, Any]] = []
    for item in (final or {}).get("__interrupt__") or ():
        value = getattr(item, "value", None)
        if isinstance(value, dict):
            calls.extend(openai_tool_calls(value.get("tool_calls") or []))
    return calls
