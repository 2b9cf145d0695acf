"""The `react` agent: tool calling in a loop (think → call tools → observe → ...).

With `tool_calling="native"` the model sees the tools through `bind_tools` and asks for them
with real tool calls, which `ToolNode` runs (in parallel when the model asks for several in
one turn); we never parse "Action:" text. With `tool_calling="structured"` (small local
models, see `graphs.decisions`) each step is a grammar-constrained JSON decision, turned into
the same tool-call message; when it chooses to answer, a plain model call writes the answer,
so the answer still streams token by token. A failing tool becomes a `ToolMessage` carrying the error, so the model can
recover. After `max_iterations` tool rounds the model is asked, without tools, to answer
from what it has, and the answer says that it stopped early.

`messages` holds only the user's turn, the tool-calling turns with their results, and one
final answer; the round count is derived from those messages, so it needs no reset per turn.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_config
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from graphs import client_tools as client
from graphs.decisions import ToolCalling, decide, decision_prompt, text_view
from graphs.deps import INTERNAL, AgentContext, configured_model, context_of, progress, trim_history
from graphs.prompts import render_prompt, with_system_prompt
from graphs.text import last_user_text, short

__all__ = ["build_react_graph", "tool_rounds", "close_dangling_calls", "STOPPED_EARLY_NOTE", "INTERRUPTED_RESULT"]

log = logging.getLogger(__name__)

STOPPED_EARLY_NOTE = (
    "(Stopped early: the limit of {n} tool rounds was reached, so this answer uses what was found so far.)"
)


def tool_rounds(messages: list[AnyMessage]) -> int:
    """Tool-calling turns since the user's latest message."""
    count = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            count += 1
    return count


INTERRUPTED_RESULT = "(no result: the run was interrupted before this tool finished)"


def close_dangling_calls(messages: list[AnyMessage]) -> list[AnyMessage]:
    """The model's input with every tool call answered.

    A run cancelled mid-tool (client disconnect) leaves its last checkpoint at the tool-calling
    turn; providers reject a history where a call has no result, so the next turn would fail.
    The stored history is left as it was; only what the model sees gets a placeholder result.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    out: list[AnyMessage] = []
    for message in messages:
        out.append(message)
        if isinstance(message, AIMessage):
            out.extend(
                ToolMessage(INTERRUPTED_RESULT, tool_call_id=c["id"], name=c["name"], status="error")
                for c in message.tool_calls
                if c["id"] not in answered
            )
    return out


def _tool_output(message: ToolMessage) -> tuple[str, str]:
    """What a tool gave, as short as a tiny model needs it: a program's stdout when the tool's
    structured result has one (measured: SmolLM2 then states the number), else its text."""
    envelope = message.artifact if isinstance(message.artifact, dict) else {}
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else None
    if data and envelope.get("success") and str(data.get("stdout") or "").strip():
        return "Python printed", short(str(data["stdout"]).strip(), 2000)
    return f"{message.name or 'The tool'} returned", short(message.text, 2000)


def _repeats_last_call(messages: list[AnyMessage], call: AIMessage) -> bool:
    """True when `call` asks for exactly what the previous tool round of this turn did: its
    result is already above, so a small model stuck on the same decision answers instead."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return False
        if isinstance(message, AIMessage) and message.tool_calls:
            before = [(c["name"], c["args"]) for c in message.tool_calls]
            return before == [(c["name"], c["args"]) for c in call.tool_calls]
    return False


def build_react_graph(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | bool | None = None,
    max_iterations: int = 5,
    internal: bool = False,
    name: str = "react",
    tool_calling: ToolCalling = "native",
    pause: bool = True,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the ReAct loop.

    `max_iterations` (REACT_MAX_ITERATIONS) bounds the tool rounds per user turn.
    `internal=True` tags every model call as not-the-answer (`graphs.deps.INTERNAL`), for
    use as a step executor inside another agent whose own answer is streamed.
    `tool_calling` picks native tool calls or structured decisions (TOOL_CALLING_MODE).
    Tools the API caller offers (`AgentContext.client_tools`) join the agent's own; a call to
    one pauses the run (`graphs.client_tools`), or with `pause=False` (as a subgraph of
    `auto`, which pauses itself) ends it. An `internal` loop never sees the caller's tools.
    """
    tools = list(tools or [])
    tool_node = ToolNode(tools, handle_tool_errors=True) if tools else None
    call_config = INTERNAL if internal else None
    instructions = decision_prompt(tools) if tools and tool_calling == "structured" else ""
    # A caller's tools (client tools) only where a call to one can pause or end the run.
    with_client = not internal
    client_end = client.CLIENT_TOOLS if pause else END

    async def native_step(model: BaseChatModel, messages: list[AnyMessage], ctx: AgentContext) -> AIMessage:
        history = close_dangling_calls(with_system_prompt(messages, ctx, "react"))
        bound = client.bind_tools(model, tools, ctx, first=client.follows_client_input(messages, ctx))
        reply = await bound.ainvoke(history, config=call_config)
        if isinstance(reply, AIMessage):
            reply = client.one_call_at_most(reply, ctx)
        if tool_node is None and isinstance(reply, AIMessage) and reply.tool_calls:
            kept = client.client_calls(reply.tool_calls, ctx)  # no tools of ours to run: drop calls to them
            if len(kept) != len(reply.tool_calls):
                reply = AIMessage(content=reply.content, id=reply.id, tool_calls=kept)
        return reply if isinstance(reply, AIMessage) else AIMessage(content=reply.content)

    async def structured_step(model: BaseChatModel, messages: list[AnyMessage], ctx: AgentContext) -> AIMessage:
        # The decision is never the answer (it is JSON): internal. It gets the decision prompt
        # instead of our system prompt (a tiny model follows one short instruction best); a
        # caller's own system prompt and the attachments stay. Answering is a second, plain
        # call, streamed like any answer.
        trimmed = close_dangling_calls(trim_history(messages, ctx.max_history))
        context = [SystemMessage(ctx.attachments.strip())] if ctx.attachments else []
        offered = [*client.as_tools(ctx), *tools]
        prompt = decision_prompt(offered) if ctx.client_tools else instructions
        call = await decide(model, [*context, *trimmed], offered, instructions=prompt, config=INTERNAL)
        if call is not None and not _repeats_last_call(messages, call):
            return call
        history = text_view(close_dangling_calls(with_system_prompt(messages, ctx, "react")))
        last = messages[-1]
        if isinstance(last, ToolMessage):  # a small model restates a result best right after seeing it again
            source, output = _tool_output(last)
            ask = render_prompt("react", "answer", request=last_user_text(messages), source=source, output=output)
            history = [*history, HumanMessage(ask)]
        reply = await model.ainvoke(history, config=call_config)
        return reply if isinstance(reply, AIMessage) else AIMessage(content=reply.content)

    def run_context(runtime: Runtime[AgentContext]) -> AgentContext:
        ctx = context_of(runtime)
        return (
            ctx
            if with_client or not ctx.client_tools
            else replace(ctx, client_tools=[], tool_choice=None, parallel_tool_calls=None)
        )

    async def agent(state: MessagesState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = run_context(runtime)
        model = configured_model(llm, ctx)
        rounds = tool_rounds(state["messages"])
        structured = tool_calling == "structured" and bool(tools or ctx.client_tools)
        if (tool_node is None and not ctx.client_tools) or rounds < max_iterations:
            reply = await (structured_step if structured else native_step)(model, state["messages"], ctx)
            theirs = {c["id"] for c in client.client_calls(reply.tool_calls, ctx)}
            for call in reply.tool_calls:
                verb = "Asking the client to run" if call["id"] in theirs else "Calling"
                progress(f"{verb} {call['name']}({short(call['args'])})", tool=call["name"], args=call["args"])
            return {"messages": [reply]}
        # Out of tool rounds: answer without tools. Internal, because the answer gets a note
        # appended and is emitted whole by the API rather than token by token.
        progress(f"Reached the limit of {max_iterations} tool rounds; answering from what was found.")
        history = close_dangling_calls(with_system_prompt(state["messages"], ctx, "react"))
        history = text_view(history) if structured else history
        stop = HumanMessage(render_prompt("react", "stop", max_iterations=max_iterations))
        reply = await model.ainvoke([*history, stop], config=INTERNAL)
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        note = STOPPED_EARLY_NOTE.format(n=max_iterations)
        answer = AIMessage(
            content=f"{text.strip()}\n\n{note}".strip(),
            id=reply.id,
            usage_metadata=getattr(reply, "usage_metadata", None),
            response_metadata=reply.response_metadata,
        )
        return {"messages": [answer]}

    async def run_tools(state: MessagesState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        assert tool_node is not None
        config = get_config()
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        ours = client.server_calls(last.tool_calls, run_context(runtime))  # the caller runs the rest
        ask = last if len(ours) == len(last.tool_calls) else last.model_copy(update={"tool_calls": ours})
        result: dict[str, Any] = await tool_node.ainvoke({**state, "messages": [*state["messages"][:-1], ask]}, config)
        for message in result.get("messages", []):
            if isinstance(message, ToolMessage):
                status = "failed" if message.status == "error" else "returned"
                progress(f"{message.name} {status}: {short(message.content)}", tool=message.name, status=status)
        return result

    def after_agent(state: MessagesState, runtime: Runtime[AgentContext]) -> str:
        last = state["messages"][-1]
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        if calls and tool_node is not None and client.server_calls(calls, run_context(runtime)):
            return "tools"
        return client_end if with_client and client.unanswered(state["messages"]) else END

    def after_tools(state: MessagesState) -> str:
        return client_end if with_client and client.unanswered(state["messages"]) else "agent"

    graph = StateGraph(MessagesState, context_schema=AgentContext)
    graph.add_node("agent", agent)
    graph.add_edge(START, "agent")
    ends = [client.CLIENT_TOOLS] if with_client and pause else []
    if with_client and pause:
        graph.add_node(client.CLIENT_TOOLS, client.client_tools_node)
        graph.add_edge(client.CLIENT_TOOLS, "agent")
    if tool_node is not None:
        graph.add_node("tools", run_tools)
        graph.add_conditional_edges("agent", after_agent, ["tools", *ends, END])
        if with_client:
            graph.add_conditional_edges("tools", after_tools, ["agent", *ends, *([] if pause else [END])])
        else:
            graph.add_edge("tools", "agent")
    else:
        graph.add_conditional_edges("agent", after_agent, [*ends, END])
    return graph.compile(checkpointer=checkpointer, name=name)
