"""Structured tool calling: each agent step as one grammar-constrained JSON decision.

Small local models (the embedded SmolLM2-135M) rarely emit native tool calls, but they follow
a JSON schema reliably when the backend constrains decoding with it (llama.cpp turns
`response_format: json_schema` into a grammar). In `structured` mode an agent step asks for
`{"action": <tool name>, <that tool's arguments>}` or `{"action": "final_answer"}`, a union
built from the tools' own argument schemas, so the model can only pick a real tool with
arguments of the right shape. The decision becomes an ordinary `AIMessage` with a tool call,
run by `ToolNode` and answered by a `ToolMessage`, so the stored history has the same format
in both modes. The model sees that traffic as text (`text_view`): its own decisions as JSON
and tool results as user turns, which any chat template renders.

`native` is the usual `bind_tools` path; which one a deployment uses is TOOL_CALLING_MODE,
resolved per backend by `core.llm.tool_calling_mode`.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from graphs.prompts import render_prompt

__all__ = [
    "ToolCalling",
    "FINAL_ANSWER",
    "decision_schema",
    "structured_model",
    "to_message",
    "text_view",
    "decide",
    "decision_prompt",
]

log = logging.getLogger(__name__)

ToolCalling = Literal["native", "structured"]
FINAL_ANSWER = "final_answer"
SCHEMA_TITLE = "AgentStep"


def _arguments(tool: BaseTool) -> tuple[dict[str, Any], list[str]]:
    """A tool's model-facing argument properties and required names (injected ones excluded)."""
    parameters = convert_to_openai_tool(tool)["function"].get("parameters") or {}
    return dict(parameters.get("properties") or {}), list(parameters.get("required") or [])


def decision_schema(tools: list[BaseTool]) -> dict[str, Any]:
    """The JSON schema of one step: a tool with its arguments, or the final answer.

    The union sits under one `step` key because structured-output helpers (and OpenAI's
    `json_schema` format) want an object at the root; each alternative fixes `action` with a
    `const`, so a constrained decoder commits to the tool first and then to its arguments.
    """
    options: list[dict[str, Any]] = []
    for tool in tools:
        properties, required = _arguments(tool)
        options.append(
            {
                "type": "object",
                "description": tool.description,
                "properties": {"action": {"const": tool.name}, **properties},
                "required": ["action", *required],
            }
        )
    options.append(
        {
            "type": "object",
            "description": "stop using tools: the request can now be answered",
            "properties": {"action": {"const": FINAL_ANSWER}},
            "required": ["action"],
        }
    )
    return {
        "title": SCHEMA_TITLE,
        "description": "the next step: call one tool with its arguments, or give the final answer",
        "type": "object",
        "properties": {"step": {"anyOf": options}},
        "required": ["step"],
    }


def structured_model(model: BaseChatModel, schema: dict[str, Any]) -> Runnable[Any, Any]:
    """`model` answering in `schema`: through the backend's JSON-schema mode where it has one
    (grammar-constrained on llama.cpp), else through LangChain's default (a forced tool call)."""
    try:
        return model.with_structured_output(schema, method="json_schema")
    except (TypeError, ValueError, NotImplementedError):  # models without a `method` choice
        return model.with_structured_output(schema)


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def to_message(decision: Any, tool_names: set[str]) -> AIMessage | None:
    """The decision as an assistant turn with one tool call; None for the final answer or
    anything unusable (the caller then asks for a plain answer)."""
    step = decision.get("step") if isinstance(decision, dict) else None
    if not isinstance(step, dict) or step.get("action") not in tool_names:
        return None
    args = {k: v for k, v in step.items() if k != "action"}
    return AIMessage("", tool_calls=[{"name": step["action"], "args": args, "id": _call_id(), "type": "tool_call"}])


def _as_text(message: AnyMessage) -> str:
    return message.content if isinstance(message.content, str) else message.text


def text_view(messages: list[AnyMessage]) -> list[AnyMessage]:
    """The conversation as the structured-mode model sees it: tool calls as the JSON decisions
    that produced them, tool results as user turns; nothing else changes."""
    out: list[AnyMessage] = []
    for message in messages:
        if isinstance(message, AIMessage) and message.tool_calls:
            steps = [json.dumps({"step": {"action": c["name"], **c["args"]}}) for c in message.tool_calls]
            out.append(AIMessage("\n".join(steps)))
        elif isinstance(message, ToolMessage):
            verb = "failed" if message.status == "error" else "returned"
            out.append(HumanMessage(f"{message.name or 'the tool'} {verb}:\n{_as_text(message)}"))
        else:
            out.append(message)
    return out


def _example(tool_names: list[str]) -> str:
    """One worked exchange for the prompt: a tiny model copies the shape of what it is shown."""
    if "python_coder" in tool_names:
        call = {"action": "python_coder", "code": "print(12 * 12)"}
        result = "python_coder returned:\nthe code ran successfully (exit code 0)\n\nstdout:\n144"
        request = "What is 12 times 12? Use Python."
    else:
        call = {"action": tool_names[0]}
        result = f"{tool_names[0]} returned:\n..."
        request = f"(a request that needs {tool_names[0]})"
    return (
        f"User: {request}\nAssistant: {json.dumps({'step': call})}\nUser: {result}\n"
        f"Assistant: {json.dumps({'step': {'action': FINAL_ANSWER}})}"
    )


def decision_prompt(tools: list[BaseTool]) -> str:
    names = [t.name for t in tools]
    listing = "\n".join(f"- {t.name}: {t.description.strip().splitlines()[0]}" for t in tools)
    return render_prompt("react", "decide", tools=listing, final=FINAL_ANSWER, example=_example(names))


async def decide(
    model: BaseChatModel,
    messages: list[AnyMessage],
    tools: list[BaseTool],
    *,
    instructions: str,
    config: RunnableConfig | None = None,
) -> AIMessage | None:
    """One structured step over `messages` (system messages folded into `instructions`):
    a tool-calling `AIMessage`, or None when the model chose (or fell back to) answering."""
    system = [_as_text(m) for m in messages if isinstance(m, SystemMessage)]
    rest: list[AnyMessage] = [m for m in messages if not isinstance(m, SystemMessage)]
    lead = SystemMessage("\n\n".join([instructions, *system]))
    try:
        decision = await structured_model(model, decision_schema(tools)).ainvoke(
            [lead, *text_view(rest)], config=config
        )
    except Exception:  # an unreadable decision ends the loop with a plain answer, never an error
        log.warning("structured tool decision failed; answering instead", exc_info=True)
        return None
    return to_message(decision, {t.name for t in tools})
