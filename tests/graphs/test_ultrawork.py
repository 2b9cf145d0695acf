"""The ultrawork agent: write → run → verify → refine, with a scripted model and a stand-in
`python_coder` (the black-box test runs the real sandbox)."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs import build_graph
from graphs.ultrawork import NO_SANDBOX_ANSWER, CodeDraft, Verdict, run_facts
from tests.fakes import ScriptedChatModel
from tests.graphs.conftest import add, python_coder, run_graph


async def test_write_run_verify_refine_report() -> None:
    llm = ScriptedChatModel(
        responses=[
            CodeDraft(code="raise ValueError('boom')", explanation="first try"),
            Verdict(done=False, feedback="It crashed with ValueError; print the result instead.", summary="failed"),
            CodeDraft(code="print('result:', 6 * 7)", explanation="fixed"),
            Verdict(done=True, feedback="Output shows result: 42.", summary="42"),
            "The answer is 42; checked by running the program (exit 0) and reading its output.",
        ]
    )
    graph = build_graph("ultrawork", llm=llm, tools=[add, python_coder], checkpointer=InMemorySaver())
    run = await run_graph(graph, "compute 6*7 with python")

    assert llm.remaining == 0
    assert [type(m) for m in run.messages] == [HumanMessage, AIMessage]
    assert run.answer.startswith("The answer is 42")
    attempts = run.state["attempts"]
    assert [a["verdict"]["done"] for a in attempts] == [False, True]
    assert attempts[0]["run"]["exit_code"] == 1 and attempts[1]["run"]["exit_code"] == 0
    assert attempts[1]["run"]["files"] == ["out.txt"]
    assert run.state["code"] == "print('result:', 6 * 7)" and run.state["iteration"] == 2
    # The refinement saw the failing code, its output and the verifier's feedback.
    refine = llm.calls[2][0].content
    assert "raise ValueError('boom')" in refine and "ValueError: boom" in refine and "print the result" in refine
    # The verifier judged the run's evidence, and the report was told it was confirmed.
    assert "result: 42" in llm.calls[3][0].content
    assert "done, confirmed by the verifier after 2 attempt(s)" in llm.calls[4][-1].content
    assert "Files produced: out.txt" in llm.calls[4][-1].content
    assert any(p.startswith("Verifier: not done") for p in run.progress)
    assert any(p.startswith("Run finished") and "result: 42" in p for p in run.progress)
    assert "".join(run.tokens) == run.answer  # only the report streams as answer tokens


async def test_unreadable_verdict_is_not_done_and_attempts_are_bounded() -> None:
    llm = ScriptedChatModel(
        responses=[
            CodeDraft(code="print(1)"),
            AIMessage("looks fine to me"),  # no structured verdict
            CodeDraft(code="print(2)"),
            RuntimeError("verifier backend error"),
            "Could not confirm the result.",
        ]
    )
    graph = build_graph("ultrawork", llm=llm, tools=[python_coder], checkpointer=InMemorySaver(), max_iterations=2)
    run = await run_graph(graph, "do it")

    assert llm.remaining == 0
    assert [a["verdict"]["done"] for a in run.state["attempts"]] == [False, False]
    assert "could not be read" in run.state["verdict"]["feedback"]
    assert "NOT verified as done after 2 attempt(s)" in llm.calls[-1][-1].content


async def test_writer_failure_is_a_failed_attempt() -> None:
    llm = ScriptedChatModel(
        responses=[
            AIMessage("no code, sorry"),  # writer gives nothing usable: no run, no verifier call
            CodeDraft(code="print(42)"),
            Verdict(done=True, feedback="prints 42"),
            "Done: 42.",
        ]
    )
    graph = build_graph("ultrawork", llm=llm, tools=[python_coder], checkpointer=InMemorySaver())
    run = await run_graph(graph, "print 42")

    first = run.state["attempts"][0]
    assert first["code"] == "" and first["verdict"]["done"] is False
    assert run.answer == "Done: 42."


async def test_without_python_coder_it_says_it_cannot_run_code(tools: list[BaseTool]) -> None:
    llm = ScriptedChatModel(responses=[])
    graph = build_graph("ultrawork", llm=llm, tools=tools, checkpointer=InMemorySaver())
    run = await run_graph(graph, "write and run a script")
    assert run.answer == NO_SANDBOX_ANSWER
    assert llm.calls == []


def test_run_facts_from_the_tools_text() -> None:
    text = (
        "the code ran successfully (exit code 0)\n\nstdout:\nok\n\n"
        "files in the workspace: data.csv (12 B), plot.png (3400 B, new/changed)"
    )
    assert run_facts(ToolMessage(text, tool_call_id="c")) == {"exit_code": 0, "output": text, "files": ["plot.png"]}
    failed = run_facts(ToolMessage("the code failed (exit code 2): SyntaxError", tool_call_id="c"))
    assert failed["exit_code"] == 2 and failed["files"] == []
    structured = ToolMessage("x", tool_call_id="c", artifact={"data": {"exit_code": 3, "files": [{"name": "a.txt"}]}})
    assert run_facts(structured)["exit_code"] == 3 and run_facts(structured)["files"] == ["a.txt"]


async def test_follow_up_turn_resumes_the_session(tmp_path: Path) -> None:
    llm = ScriptedChatModel(
        responses=[
            CodeDraft(code="print(42)"),
            Verdict(done=True, feedback="prints 42"),
            "It prints 42.",
            CodeDraft(code="print(42 * 2)"),
            Verdict(done=True, feedback="prints 84"),
            "Doubled: 84.",
        ]
    )
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.db")) as saver:
        graph = build_graph("ultrawork", llm=llm, tools=[python_coder], checkpointer=saver)
        await run_graph(graph, "print the answer", thread="u")
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.db")) as saver:
        graph = build_graph("ultrawork", llm=llm, tools=[python_coder], checkpointer=saver)
        run = await run_graph(graph, "now double it", thread="u")

    writer_saw = [m.content for m in llm.calls[3][1:]]
    assert writer_saw == ["print the answer", "It prints 42.", "now double it"]
    assert [m.content for m in run.messages] == ["print the answer", "It prints 42.", "now double it", "Doubled: 84."]
    assert len(run.state["attempts"]) == 1 and run.state["iteration"] == 1  # per-turn work starts afresh
