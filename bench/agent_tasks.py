"""Do the agents act on the embedded model? Tool-use rate and answer accuracy per agent.

A small task set runs on the embedded SmolLM2-135M (xllamacpp) against a real tools app
(sandboxed Python, RAG with the real embedder) through the agents' real tool wrappers:
arithmetic that should be computed with Python, a file to write in the session workspace,
a lookup in an uploaded document, and `auto`'s routing decision. `--mode` sets
TOOL_CALLING_MODE, so one run per mode gives the before (native) and after (structured)
figures. A task "used its tool" when the expected tool ran at least once (counted with a
LangChain callback); it is "right" when the answer has the expected value (or, for the
file task, the workspace holds the file with the expected text; for routing, the route is
one that fits). Slow on purpose: every model call is a real one.

    python bench/agent_tasks.py --mode structured [--agents react,auto] [--tasks arithmetic] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from core.llm import build_chat_model, resolve_backend  # noqa: E402
from graphs import AgentContext, build_all  # noqa: E402
from graphs.registry import options_from_settings  # noqa: E402
from graphs.tools import build_tools  # noqa: E402
from settings import Settings  # noqa: E402
from tests.servers import serve_app  # noqa: E402
from tools_service.client import ToolsClient  # noqa: E402
from tools_service.main import create_app as create_tools_app  # noqa: E402

log = logging.getLogger("bench.agent_tasks")
USER = "bench"
HANDBOOK = (
    "Office handbook. The office opens at 7:45 in the morning and closes at 16:30. "
    "Lunch is served in the canteen at noon. Visitors sign in at the front desk on floor 2. "
    "The wifi network is called Heron and its password is given at the front desk."
)


@dataclass
class Task:
    name: str
    kind: str  # arithmetic | file | rag | route
    prompt: str
    tool: str | None  # the tool the task needs
    expect: str  # the value the answer must contain (file: the file's text; route: allowed routes)
    agents: tuple[str, ...]


TOOL_AGENTS = ("react", "plan_execute", "ultrawork", "auto")
# fmt: off
TASKS = [
    Task("17*23", "arithmetic", "Use Python to compute 17*23", "python_coder", "391", TOOL_AGENTS),
    Task("123*45", "arithmetic", "Compute 123*45 with the python tool", "python_coder", "5535", TOOL_AGENTS),
    Task("2**20", "arithmetic", "What is 2**20? Run Python to check", "python_coder", "1048576", TOOL_AGENTS),
    Task(
        "file",
        "file",
        "Use Python to write the word banana into a file named fruit.txt",
        "python_coder",
        "banana",
        TOOL_AGENTS,
    ),
    Task(
        "rag",
        "rag",
        "Search my document collection 'handbook' with rag_query: what time does the office open?",
        "rag_query",
        "7:45",
        ("react", "plan_execute", "auto"),
    ),
    Task("route-python", "route", "Use Python to compute 17*23", None, "react ultrawork plan_execute", ("auto",)),
    Task("route-chat", "route", "Hello! How are you today?", None, "chat", ("auto",)),
    Task(
        "route-code",
        "route",
        "Write a Python script that saves the squares of 1 to 10 to squares.csv",
        None,
        "ultrawork react plan_execute",
        ("auto",),
    ),
    Task(
        "route-rag",
        "route",
        "Look up the office opening hours in my uploaded handbook",
        None,
        "react plan_execute",
        ("auto",),
    ),
]


class ToolCounter(BaseCallbackHandler):
    """Counts tool runs by name, whichever agent or subgraph starts them."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_tool_start(self, serialized: dict[str, Any], input_str: str, **kwargs: Any) -> None:
        self.names.append(str((serialized or {}).get("name") or kwargs.get("name") or "?"))


def _numbers(text: str) -> str:
    return re.sub(r"(?<=\d)[,\s_](?=\d{3}\b)", "", text)


async def _run(graphs: dict[str, Any], client: ToolsClient, agent: str, task: Task, timeout: float) -> dict[str, Any]:
    session = f"{agent}-{task.name}".replace("*", "x")
    counter = ToolCounter()
    started = time.perf_counter()
    error = ""
    out: dict[str, Any] = {}
    try:
        out = await asyncio.wait_for(
            graphs[agent].ainvoke(
                {"messages": [("user", task.prompt)]},
                {"configurable": {"thread_id": session}, "callbacks": [counter]},
                context=AgentContext(user_id=USER, session_id=session, temperature=0.0),
            ),
            timeout,
        )
    except Exception as exc:  # a failed run counts as wrong and tool-less, and the bench goes on
        error = f"{type(exc).__name__}: {exc}"[:200]
    answer = out["messages"][-1].text if out.get("messages") else ""
    if task.kind == "route":
        right = out.get("route") in task.expect.split()
    elif task.kind == "file":
        try:
            right = task.expect in (await client.read_file(USER, session, "fruit.txt")).decode(errors="replace")
        except Exception:
            right = False
    else:
        right = task.expect in _numbers(answer)
    return {
        "agent": agent, "task": task.name, "kind": task.kind, "tool": task.tool,
        "used": bool(task.tool and task.tool in counter.names), "tools": counter.names, "right": right,
        "route": out.get("route"), "answer": answer, "error": error, "seconds": time.perf_counter() - started,
    }  # fmt: skip


async def _prepare_rag(client: ToolsClient) -> None:
    await client.call(USER, "/api/tools/rag/collections", {"name": "handbook"})
    result = await client.call(
        USER,
        "/api/tools/rag/upload",
        files={"files": ("handbook.txt", HANDBOOK.encode())},
        data={"collection": "handbook"},
    )
    if not result.success:
        raise RuntimeError(f"could not index the handbook: {result.answer}")


def _table(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> list[str]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    lines = ["| agent | tasks | tool use | right | median s |", "|---|---|---|---|---|"]
    for name, group in groups.items():
        needs = [r for r in group if r["tool"]]
        used = f"{sum(r['used'] for r in needs)}/{len(needs)}" if needs else "-"
        seconds = sorted(r["seconds"] for r in group)[len(group) // 2]
        lines.append(
            f"| {name} | {len(group)} | {used} | {sum(r['right'] for r in group)}/{len(group)} | {seconds:.0f} |"
        )
    return lines


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="agent-tasks-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), llm_backend="embedded", tool_calling_mode=args.mode, default_temperature=0.0,
            react_max_iterations=3, plan_max_steps=2, ultrawork_max_iterations=2, embedded_ctx_size=8192,
            llm_timeout=args.timeout, default_tool_timeout=60, python_sandbox=args.sandbox,
        ).ensure_secrets()  # fmt: skip
        info = await resolve_backend(settings)
        llm = build_chat_model(info, settings)
        with serve_app(create_tools_app(settings)) as tools_url:
            client = ToolsClient(tools_url, settings.tools_key, timeout=120)
            graphs = build_all(
                llm=llm, tools=build_tools(client), checkpointer=InMemorySaver(),
                options=options_from_settings(settings, info.name),
            )  # fmt: skip
            agents = args.agents.split(",") if args.agents else list(TOOL_AGENTS)
            kinds = args.tasks.split(",") if args.tasks else ["arithmetic", "file", "rag", "route"]
            if "rag" in kinds or "route" in kinds:
                await _prepare_rag(client)
            gate = asyncio.Semaphore(args.parallel)  # the embedded server batches this many at once

            async def one(agent: str, task: Task) -> dict[str, Any]:
                async with gate:
                    row = await _run(graphs, client, agent, task, args.timeout * 4)
                if args.verbose:
                    log.info(
                        "%s %-12s used=%s right=%s %.0fs tools=%s route=%s answer=%r %s", agent, task.name,
                        row["used"], row["right"], row["seconds"], row["tools"], row["route"],
                        row["answer"][:160], row["error"],
                    )  # fmt: skip
                return row

            jobs = [(a, t) for t in TASKS if t.kind in kinds for a in agents if a in t.agents]
            rows = list(await asyncio.gather(*(one(a, t) for a, t in jobs)))
            await client.aclose()
    mode = f"TOOL_CALLING_MODE={args.mode}, embedded SmolLM2-135M, temperature 0"
    lines = [f"# agent tasks ({mode})", "", *_table([r for r in rows if r["kind"] != "route"], lambda r: r["agent"])]
    routes = [r for r in rows if r["kind"] == "route"]
    if routes:
        right = sum(r["right"] for r in routes)
        lines += [
            "",
            f"routing (auto): {right}/{len(routes)} right: " + ", ".join(f"{r['task']}→{r['route']}" for r in routes),
        ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["native", "structured", "auto"], default="auto")
    parser.add_argument("--agents", default="", help="comma-separated (default: react,plan_execute,ultrawork,auto)")
    parser.add_argument("--tasks", default="", help="comma-separated kinds: arithmetic,file,rag,route")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per model call")
    parser.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (EMBEDDED_PARALLEL slots)")
    parser.add_argument("-v", "--verbose", action="store_true")
    cli = parser.parse_args()
    logging.basicConfig(level=logging.INFO if cli.verbose else logging.WARNING, format="%(message)s")
    asyncio.run(main(cli))
