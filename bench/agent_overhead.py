"""Per-step overhead of each agent, excluding the model: what LangGraph, our nodes, progress
narration and checkpointing cost on top of the LLM.

Each agent runs a fixed scripted scenario (tool rounds, plan steps, write/verify loops) with
an instant scripted model and instant local tools, streamed the way the API streams it
(`messages` + `custom` + `updates`, subgraphs on), without a checkpointer, with the
in-memory one, and with SQLite in WAL mode. The scripted model's own cost, measured
separately per call, is subtracted, so the figures are the framework's share.
A "step" is one node execution (an `updates` event, subgraph nodes included).

Two clocks: wall time (median per turn) and this process's CPU time (all threads, SQLite's
included). On a shared machine the CPU figure is the stable one: other processes' load
stretches wall time but not the CPU our code spends.

    python bench/agent_overhead.py [--turns 30]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.messages import HumanMessage  # noqa: E402
from langchain_core.runnables import RunnableConfig  # noqa: E402
from langchain_core.tools import BaseTool, tool  # noqa: E402
from langgraph.checkpoint.base import BaseCheckpointSaver  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from graphs import AgentContext, build_all  # noqa: E402
from graphs.plan_execute import Plan, PlanStep, Replan  # noqa: E402
from graphs.ultrawork import CodeDraft, Verdict  # noqa: E402
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call  # noqa: E402

log = logging.getLogger("bench.agent_overhead")


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def python_coder(code: str) -> str:
    """Instant stand-in for the sandbox: the benchmark measures the graph, not the sandbox."""
    return "the code ran successfully (exit code 0)\n\nstdout:\n42"


def _route(agent: str) -> Any:
    from pydantic import create_model

    return create_model("RouteDecision", agent=(str, ...), reason=(str, ""))(agent=agent, reason="bench")


REACT = [ai_tool_calls(tool_call("multiply", a=6, b=7)), ai_tool_calls(tool_call("multiply", a=2, b=21)), "42."]
SCENARIOS: dict[str, Callable[[], list[Any]]] = {
    "chat": lambda: ["Hello."],
    "react": lambda: list(REACT),
    "plan_execute": lambda: [
        Plan(steps=[PlanStep(goal="a", tool="multiply"), PlanStep(goal="b")]),
        ai_tool_calls(tool_call("multiply", a=6, b=7)),
        "42",
        Replan(action="continue"),
        "done",
        Replan(action="finish"),
        "Answer.",
    ],
    "ultrawork": lambda: [
        CodeDraft(code="print(41)"),
        Verdict(done=False, feedback="off by one"),
        CodeDraft(code="print(42)"),
        Verdict(done=True, feedback="ok"),
        "Report.",
    ],
    "auto": lambda: [_route("react"), *REACT],
}


@asynccontextmanager
async def checkpointer(kind: str) -> AsyncIterator[BaseCheckpointSaver[Any] | None]:
    if kind == "none":
        yield None
    elif kind == "memory":
        yield InMemorySaver()
    else:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        with tempfile.TemporaryDirectory() as tmp:
            conn = await aiosqlite.connect(str(Path(tmp) / "checkpoints.db"))
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            try:
                yield saver
            finally:
                await conn.close()


async def model_cost(calls: int = 300) -> tuple[float, float]:
    """(wall, CPU) seconds per call of the scripted model alone (streamed, as inside the graphs)."""
    llm = ScriptedChatModel(responses=["Hello there, this is a scripted answer."] * calls)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        async for _chunk in llm.astream([HumanMessage("hi")]):
            pass
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


async def bench(
    agent: str, kind: str, turns: int, tools: list[BaseTool], per_call: tuple[float, float]
) -> dict[str, Any]:
    script = SCENARIOS[agent]
    llm = ScriptedChatModel(responses=[item for _ in range(turns + 1) for item in script()])
    async with checkpointer(kind) as saver:
        graph = build_all(llm=llm, tools=tools, checkpointer=saver)[agent]
        times: list[float] = []
        cpu_times: list[float] = []
        steps = 0
        for turn in range(turns + 1):  # the first turn warms caches and is not counted
            config: RunnableConfig = {"configurable": {"thread_id": f"{agent}-{turn}"}}
            ctx = AgentContext(user_id="bench", session_id=f"s{turn}")
            count = 0
            start, cpu_start = time.perf_counter(), time.process_time()
            async for _ns, mode, _data in graph.astream(
                {"messages": [HumanMessage("go")]},
                config,
                context=ctx,
                stream_mode=["messages", "custom", "updates"],
                subgraphs=True,
            ):
                count += mode == "updates"
            if turn:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
                steps = count
    calls = len(script())
    turn_ms = statistics.median(times) * 1000
    framework_ms = turn_ms - calls * per_call[0] * 1000
    cpu_ms = statistics.median(cpu_times) * 1000 - calls * per_call[1] * 1000
    return {
        "agent": agent,
        "checkpointer": kind,
        "steps": steps,
        "calls": calls,
        "turn_ms": turn_ms,
        "framework_ms": framework_ms,
        "step_ms": framework_ms / steps,
        "cpu_step_ms": cpu_ms / steps,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    per_call = await model_cost()
    tools: list[BaseTool] = [multiply, python_coder]
    rows = [
        await bench(agent, kind, args.turns, tools, per_call)
        for agent in SCENARIOS
        for kind in ("none", "memory", "sqlite")
    ]
    out = [
        f"scripted model: {per_call[0] * 1000:.2f} ms wall, {per_call[1] * 1000:.2f} ms CPU per call (subtracted); "
        f"medians of {args.turns} turns",
        f"{'agent':<13}{'checkpointer':<14}{'steps':>6}{'model calls':>12}{'turn ms':>10}"
        f"{'excl. model':>13}{'ms/step':>9}{'CPU ms/step':>13}",
    ]
    out += [
        f"{r['agent']:<13}{r['checkpointer']:<14}{r['steps']:>6}{r['calls']:>12}{r['turn_ms']:>10.2f}"
        f"{r['framework_ms']:>13.2f}{r['step_ms']:>9.2f}{r['cpu_step_ms']:>13.2f}"
        for r in rows
    ]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
