"""Helpers for the agent tests: run a graph the way the API does, and local tool fixtures.

The tools here are the tests' own stand-ins for pure control-flow tests; the black-box
tests in `tests/integration` run the real tools app and sandbox instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, BaseMessage
from langchain_core.tools import BaseTool, tool
from langgraph.graph.state import CompiledStateGraph

from graphs.deps import AgentContext


@dataclass
class Run:
    state: dict[str, Any]
    progress: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # answer tokens, as the API would stream them
    whole: list[BaseMessage] = field(default_factory=list)  # non-chunk messages in the messages stream

    @property
    def messages(self) -> list[AnyMessage]:
        return list(self.state["messages"])

    @property
    def answer(self) -> str:
        last = self.messages[-1]
        assert isinstance(last, AIMessage) and not last.tool_calls
        return last.text


async def run_graph(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    text: str,
    *,
    thread: str = "t1",
    ctx: AgentContext | None = None,
) -> Run:
    """Stream one user turn with the runner's stream modes and collect what a client would see."""
    config: dict[str, Any] = {"configurable": {"thread_id": thread}}
    progress: list[str] = []
    tokens: list[str] = []
    whole: list[BaseMessage] = []
    async for _ns, mode, data in graph.astream(
        {"messages": [("user", text)]},
        config,
        context=ctx or AgentContext(user_id="alice", session_id=thread),
        stream_mode=["messages", "custom", "updates"],
        subgraphs=True,
    ):
        if mode == "custom":
            progress.append(data["text"])
        elif mode == "messages":
            chunk = data[0]
            if isinstance(chunk, AIMessageChunk):
                if chunk.text:
                    tokens.append(chunk.text)
            else:
                whole.append(chunk)
    if graph.checkpointer:
        state = (await graph.aget_state(config)).values
    else:  # pragma: no cover - every test graph has a checkpointer
        raise AssertionError("run_graph needs a checkpointer to read the final state")
    return Run(state=state, progress=progress, tokens=tokens, whole=whole)


@tool
def add(a: int, b: int, runtime: ToolRuntime) -> str:
    """Add two integers."""
    ctx = runtime.context
    return f"{a + b} (for {getattr(ctx, 'user_id', '?')})"


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def flaky(x: str) -> str:
    """A tool that always fails."""
    raise RuntimeError(f"backend down for {x}")


def _envelope(exit_code: int | None, stdout: str = "", stderr: str = "", **meta: Any) -> dict[str, Any]:
    files = [{"name": "out.txt", "size": 3, "changed": True}] if exit_code == 0 else []
    data = {"stdout": stdout, "stderr": stderr, "exit_code": exit_code, "files": files}
    answer = "the code ran successfully (exit code 0)" if exit_code == 0 else f"the code failed (exit code {exit_code})"
    return {"success": exit_code == 0 and not meta.get("stopped"), "answer": answer, "data": data,
            "metadata": {"timeout": 30.0, "stopped": None, **meta}}  # fmt: skip


@tool(response_format="content_and_artifact")
def python_coder(code: str) -> tuple[str, dict[str, Any]]:
    """Stand-in for the sandbox in control-flow tests: the tools app's envelope for what a run
    of `code` would do (syntax errors and `raise` fail, `while True` times out), as the real
    wrapper returns it: text for the model, the envelope as the artifact."""
    try:
        compile(code, "<code>", "exec")
    except SyntaxError as exc:
        envelope = _envelope(1, stderr=f"Traceback ...\nSyntaxError: {exc.msg}")
    else:
        if "raise" in code:
            envelope = _envelope(1, stderr="Traceback ...\nValueError: boom")
        elif "while True" in code:
            envelope = _envelope(-9, stopped="timeout")
        else:
            envelope = _envelope(0, stdout="result: 42")
    data = envelope["data"]
    text = f"{envelope['answer']}\n\nstdout:\n{data['stdout']}\n\nstderr:\n{data['stderr']}"
    if data["files"]:
        text += "\n\nfiles in the workspace: out.txt (3 B, new/changed)"
    return text, envelope


@pytest.fixture
def tools() -> list[BaseTool]:
    return [add, multiply, flaky]


@pytest.fixture
def all_tools() -> list[BaseTool]:
    return [add, multiply, flaky, python_coder]
