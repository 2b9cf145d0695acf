"""Every prompt file is used, and every placeholder in it is filled, in what the model sees.

`render_prompt` already raises on a missing value; this checks the other direction too:
run each agent through a scenario that reaches every prompt and look at the model's input
for leftover `{placeholders}` and for each prompt's text.
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver

from graphs import build_all, build_graph
from graphs.decisions import FINAL_ANSWER
from graphs.plan_execute import Plan, PlanStep, Replan
from graphs.prompts import PROMPTS_DIR, load_prompt
from graphs.ultrawork import CodeDraft, Verdict
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call
from tests.graphs.conftest import run_graph
from tests.graphs.test_auto import RouteDecision
from tests.graphs.test_structured_tools import step

LEFTOVER = re.compile(r"\{[a-z_]+\}")


def _first_line(template: str) -> str:
    """The prompt's opening text up to its first placeholder: it must reach the model."""
    return template.split("{", 1)[0].strip().splitlines()[0]


async def test_every_prompt_reaches_the_model_fully_filled(all_tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[
            RouteDecision(agent="chat"),
            "chat answer",
            RouteDecision(agent="react"),
            *[ai_tool_calls(tool_call("multiply", a=2, b=2))] * 5,
            "stopped answer",
            RouteDecision(agent="plan_execute"),
            Plan(steps=[PlanStep(goal="g1")]),
            "r1",
            Replan(action="finish"),
            "syn",
            RouteDecision(agent="ultrawork"),
            CodeDraft(code="raise 1"),
            Verdict(done=False, feedback="fix"),
            CodeDraft(code="print(42)"),
            Verdict(done=True, feedback="ok"),
            "report",
        ]
    )
    graph = build_all(llm=llm, tools=all_tools, checkpointer=InMemorySaver())["auto"]
    for i in range(4):
        await run_graph(graph, f"request {i}", thread=f"t{i}")
    assert llm.remaining == 0
    # Structured tool calling (small models) has its own decision and answer prompts.
    small = ScriptedChatModel(responses=[step("multiply", a=2, b=2), step(FINAL_ANSWER), "4"])
    react = build_graph("react", llm=small, tools=all_tools, checkpointer=InMemorySaver(), tool_calling="structured")
    await run_graph(react, "request s", thread="s")
    assert small.remaining == 0

    calls = [*llm.calls, *small.calls]
    seen = [m.content for c in calls for m in c if isinstance(m.content, str) and not isinstance(m, AIMessage)]
    assert not [text for text in seen if LEFTOVER.search(text)]
    files = sorted(PROMPTS_DIR.glob("*/*.md"))
    assert {f.parent.name for f in files} >= {"chat", "react", "plan_execute", "ultrawork", "auto"}
    for file in files:
        template = load_prompt(file.parent.name, file.stem)
        assert any(_first_line(template) in text for text in seen), f"{file} never reached the model"
