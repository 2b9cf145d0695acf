"""The plan-and-execute agent: plan → steps (ReAct) → replan → synthesis, with a scripted model."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs import build_graph
from graphs.plan_execute import Plan, PlanStep, Replan
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call
from tests.graphs.conftest import run_graph


async def test_plan_steps_replan_synthesis(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[
            Plan(steps=[PlanStep(goal="add 2 and 3", tool="add"), PlanStep(goal="multiply the sum by 7")]),
            ai_tool_calls(tool_call("add", a=2, b=3)),  # step 1, inside its ReAct loop
            "The sum is 5.",
            Replan(action="continue", reason="one step left"),
            "5 times 7 is 35.",  # step 2 answers without tools
            Replan(action="finish", reason="have the product"),
            "(2+3)*7 = 35.",  # synthesis
        ]
    )
    graph = build_graph("plan_execute", llm=llm, tools=tools, checkpointer=InMemorySaver())
    run = await run_graph(graph, "compute (2+3)*7")

    assert llm.remaining == 0
    assert run.answer == "(2+3)*7 = 35."
    # Only the user's turn and one answer are conversation; the work lives in other keys.
    assert [type(m) for m in run.messages] == [HumanMessage, AIMessage]
    assert run.state["task"] == "compute (2+3)*7"
    assert [(s["goal"], s["tool"], s["result"]) for s in run.state["past_steps"]] == [
        ("add 2 and 3", "add", "The sum is 5."),
        ("multiply the sum by 7", None, "5 times 7 is 35."),
    ]
    assert run.state["plan"] == [] and run.state["decision"] == "finish"
    # Step 2's executor saw the request, the plan and step 1's result.
    brief = llm.calls[4][0]
    assert isinstance(brief, SystemMessage)
    assert "compute (2+3)*7" in brief.content and "Result: The sum is 5." in brief.content
    assert "multiply the sum by 7" in llm.calls[4][-1].content
    # The step's tool really ran inside the step's loop.
    assert any(isinstance(m, ToolMessage) and m.content == "5 (for alice)" for m in llm.calls[2])
    # The synthesis saw both results.
    assert "5 times 7 is 35." in llm.calls[6][-1].content
    # Progress: the plan, each step and its result, the tool call; answer tokens only from synthesis.
    assert run.progress[0] == "Plan:\n1. add 2 and 3 [tool: add]\n2. multiply the sum by 7"
    assert "Step 1: add 2 and 3" in run.progress and "Step 2 result: 5 times 7 is 35." in run.progress
    assert any(p.startswith("Calling add(") for p in run.progress)
    assert "".join(run.tokens) == "(2+3)*7 = 35."


async def test_replanner_revises_remaining_plan() -> None:
    llm = ScriptedChatModel(
        responses=[
            Plan(steps=[PlanStep(goal="guess"), PlanStep(goal="never run")]),
            "guessed 3",
            Replan(action="revise", steps=[PlanStep(goal="check the guess")], reason="verify first"),
            "checked: right",
            Replan(action="finish"),
            "It is 3.",
        ]
    )
    graph = build_graph("plan_execute", llm=llm, tools=[], checkpointer=InMemorySaver())
    run = await run_graph(graph, "what is it?")

    assert [s["goal"] for s in run.state["past_steps"]] == ["guess", "check the guess"]
    assert any(p.startswith("Revised plan (verify first):\n1. check the guess") for p in run.progress)
    assert run.answer == "It is 3."


async def test_unusable_plan_falls_back_to_one_step() -> None:
    llm = ScriptedChatModel(
        responses=[
            AIMessage("I cannot produce JSON"),  # no structured output: the parser yields nothing
            "done directly",
            AIMessage("also unreadable"),  # replanner unusable with no steps left: finish
            "Final.",
        ]
    )
    graph = build_graph("plan_execute", llm=llm, tools=[], checkpointer=InMemorySaver())
    run = await run_graph(graph, "just do it")

    assert [s["goal"] for s in run.state["past_steps"]] == ["just do it"]
    assert run.answer == "Final."


async def test_max_steps_bounds_plan_and_execution() -> None:
    llm = ScriptedChatModel(
        responses=[
            Plan(steps=[PlanStep(goal=f"step {i}") for i in range(1, 5)]),
            "r1",
            Replan(action="continue"),
            "r2",
            # no replanner call: the step budget is spent
            "Summary.",
        ]
    )
    graph = build_graph("plan_execute", llm=llm, tools=[], checkpointer=InMemorySaver(), max_steps=2)
    run = await run_graph(graph, "four things")

    assert llm.remaining == 0
    assert run.progress[0] == "Plan:\n1. step 1\n2. step 2"
    assert [s["result"] for s in run.state["past_steps"]] == ["r1", "r2"]
    assert any("limit of 2 steps" in p for p in run.progress)


async def test_second_turn_resumes_and_replans_from_scratch(tmp_path: Path) -> None:
    llm = ScriptedChatModel(
        responses=[
            Plan(steps=[PlanStep(goal="a")]),
            "ra",
            Replan(action="finish"),
            "First answer.",
            Plan(steps=[PlanStep(goal="b")]),
            "rb",
            Replan(action="finish"),
            "Second answer.",
        ]
    )
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.db")) as saver:
        graph = build_graph("plan_execute", llm=llm, tools=[], checkpointer=saver)
        await run_graph(graph, "first", thread="s")
        run = await run_graph(graph, "second", thread="s")

    assert [m.content for m in run.messages] == ["first", "First answer.", "second", "Second answer."]
    assert [s["goal"] for s in run.state["past_steps"]] == ["b"]  # per-turn work is reset
    planner_saw = [m.content for m in llm.calls[4][1:]]
    assert planner_saw == ["first", "First answer.", "second"]  # the planner sees the conversation
