"""Structured tool calling (TOOL_CALLING_MODE=structured): each step is one JSON decision built
from the tools' own schemas, run by the same ToolNode, stored in the same history format."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver

from graphs import build_graph
from graphs.decisions import FINAL_ANSWER, SCHEMA_TITLE, decision_schema
from graphs.plan_execute import Plan, PlanStep, Replan
from graphs.registry import options_from_settings
from tests.conftest import make_settings
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call
from tests.graphs.conftest import run_graph


def step(action: str, **args: Any) -> AIMessage:
    """What a structured-output call of the scripted model returns for this decision."""
    return ai_tool_calls(tool_call(SCHEMA_TITLE, step={"action": action, **args}))


def test_the_decision_schema_is_built_from_the_tools_own_schemas(tools: list[BaseTool]) -> None:
    schema = decision_schema(tools)
    jsonschema.validate({"step": {"action": "add", "a": 1, "b": 2}}, schema)
    jsonschema.validate({"step": {"action": FINAL_ANSWER}}, schema)
    for bad in (
        {"step": {"action": "add", "a": "one", "b": 2}},  # wrong type, from add's own schema
        {"step": {"action": "add", "a": 1}},  # a required argument missing
        {"step": {"action": "delete_everything"}},  # not a tool
        {"action": "add", "a": 1, "b": 2},  # not under `step`
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    # The injected runtime argument of `add` is not the model's to fill.
    options = schema["properties"]["step"]["anyOf"]
    assert set(options[0]["properties"]) == {"action", "a", "b"}


async def test_react_structured_calls_a_tool_then_answers(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[step("multiply", a=6, b=7), step(FINAL_ANSWER), "6 times 7 is 42."])
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, "What is 6*7? Use the tool.")

    assert llm.remaining == 0
    # Stored history: the same shape as native tool calling.
    assert [type(m) for m in run.messages] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    decision, result = run.messages[1], run.messages[2]
    assert isinstance(decision, AIMessage) and isinstance(result, ToolMessage)
    call = decision.tool_calls[0]
    assert call["name"] == "multiply" and call["args"] == {"a": 6, "b": 7}
    assert result.tool_call_id == call["id"] and result.content == "42"
    assert run.answer == "6 times 7 is 42."
    # The model saw the decision instructions with the tool list and one example, and the tool
    # traffic as text: its own decision as JSON, the result as a user turn (no tool roles).
    first, second, answer = llm.calls
    assert isinstance(first[0], SystemMessage) and "- multiply: Multiply two integers." in first[0].text
    assert '"action": "final_answer"' in first[0].text
    assert not any(isinstance(m, ToolMessage) or getattr(m, "tool_calls", None) for m in second + answer)
    assert second[-2].text == '{"step": {"action": "multiply", "a": 6, "b": 7}}'
    assert second[-1].text == "multiply returned:\n42"
    assert answer[-1].text == "My request: What is 6*7? Use the tool.\nmultiply returned: 42\nSo the answer is"
    # Only the answer streams as answer tokens; the JSON decisions never reach the client.
    assert "".join(run.tokens) == run.answer
    assert any(p.startswith("Calling multiply(") for p in run.progress)


async def test_react_structured_bad_arguments_go_back_as_tool_errors(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[step("multiply", a=6), step("multiply", a=6, b=7), step(FINAL_ANSWER), "42."])
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, "6*7?")

    errors = [m for m in run.messages if isinstance(m, ToolMessage) and m.status == "error"]
    assert len(errors) == 1 and "b" in errors[0].text
    assert llm.calls[1][-1].text.startswith("multiply failed:\n")
    assert run.answer == "42."


@pytest.mark.parametrize(
    "unusable",
    [AIMessage("I think the answer is 42"), step("no_such_tool", x=1), RuntimeError("grammar error")],
)
async def test_react_structured_unusable_decision_becomes_a_plain_answer(
    tools: list[BaseTool], unusable: AIMessage | Exception
) -> None:
    llm = ScriptedChatModel(responses=[unusable, "Hello there."])
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, "hello")

    assert [type(m) for m in run.messages] == [HumanMessage, AIMessage]
    assert run.answer == "Hello there."
    assert not llm.calls[1][-1].text.startswith("My request:")  # no tool result to answer from


async def test_react_structured_second_turn_sees_the_first_as_text(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[step("add", a=1, b=2), step(FINAL_ANSWER), "3.", step(FINAL_ANSWER), "Still 3."])
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), tool_calling="structured")
    await run_graph(graph, "1+2?", thread="s")
    run = await run_graph(graph, "and again?", thread="s")

    assert [type(m) for m in run.messages] == [HumanMessage, AIMessage, ToolMessage, AIMessage, HumanMessage, AIMessage]
    seen = [m.text for m in llm.calls[3][1:]]
    assert seen == [
        "1+2?",
        '{"step": {"action": "add", "a": 1, "b": 2}}',
        "add returned:\n3 (for alice)",
        "3.",
        "and again?",
    ]


async def test_plan_execute_steps_use_structured_decisions(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(
        responses=[
            Plan(steps=[PlanStep(goal="multiply 6 by 7", tool="multiply")]),
            step("multiply", a=6, b=7),
            step(FINAL_ANSWER),
            "42",
            Replan(action="finish", reason="have it"),
            "The product is 42.",
        ]
    )
    graph = build_graph("plan_execute", llm=llm, tools=tools, checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, "What is 6*7?")

    assert llm.remaining == 0
    assert run.state["past_steps"][0]["result"] == "42"
    assert run.answer == "The product is 42."
    # The step's decision prompt leads, the step brief follows in the same system message.
    decision_input = llm.calls[1]
    assert decision_input[0].text.startswith("You are an assistant that can use tools.")
    assert "Carry out only the current step: multiply 6 by 7" in decision_input[0].text


def test_settings_pick_the_mode_per_backend(data_dir: Any) -> None:
    auto = make_settings(data_dir)
    assert options_from_settings(auto, "embedded")["react"]["tool_calling"] == "structured"
    assert options_from_settings(auto, "embedded")["plan_execute"]["tool_calling"] == "structured"
    assert options_from_settings(auto, "openai")["react"]["tool_calling"] == "native"
    forced = make_settings(data_dir, tool_calling_mode="structured")
    assert options_from_settings(forced, "ollama")["react"]["tool_calling"] == "structured"


async def test_react_structured_repeated_identical_call_answers_instead(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[step("multiply", a=6, b=7), step("multiply", a=6, b=7), "42."])
    graph = build_graph("react", llm=llm, tools=tools, checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, "6*7?")

    assert [type(m) for m in run.messages] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert run.answer == "42." and llm.calls[2][-1].text.startswith("My request:")


async def test_react_structured_answers_from_the_programs_stdout(all_tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[step("python_coder", code="print(6 * 7)"), step(FINAL_ANSWER), "42."])
    graph = build_graph("react", llm=llm, tools=all_tools, checkpointer=InMemorySaver(), tool_calling="structured")
    run = await run_graph(graph, "6*7 in Python?")

    assert run.answer == "42."
    assert llm.calls[2][-1].text == "My request: 6*7 in Python?\nPython printed: result: 42\nSo the answer is"
