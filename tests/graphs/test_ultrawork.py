"""The ultrawork agent: write → run → verify → refine, with a scripted model and a stand-in
`python_coder` (the black-box test runs the real sandbox)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs import build_graph
from graphs.runs import failure_reason
from graphs.ultrawork import FAILED_NOTE, NO_SANDBOX_ANSWER, CodeDraft, Verdict, run_facts
from tests.fakes import ScriptedChatModel, ai_tool_calls, tool_call
from tests.graphs.conftest import add, python_coder, run_graph


async def test_write_run_verify_refine_report() -> None:
    llm = ScriptedChatModel(
        responses=[
            CodeDraft(code="raise ValueError('boom')", explanation="first try"),
            # no verifier call: a run that exited 1 is not done, as a matter of fact
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
    assert attempts[0]["failure"] == "the program exited with code 1 (ValueError: boom)"
    # The refinement saw the failing code, its output and why the run failed.
    refine = llm.calls[1][0].content
    assert "raise ValueError('boom')" in refine and "ValueError: boom" in refine
    assert "The run failed: the program exited with code 1" in refine
    # The verifier judged the second run's evidence, and the report was told it was confirmed.
    assert "result: 42" in llm.calls[2][0].content
    assert "done, confirmed by the verifier after 2 attempt(s)" in llm.calls[3][-1].content
    assert "Files produced: out.txt" in llm.calls[3][-1].content
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


def test_run_facts_come_from_the_envelope_not_the_wording() -> None:
    envelope = {
        "success": False,
        "answer": "the code failed (exit code 2): SyntaxError",
        "data": {"exit_code": 2, "stderr": "Traceback\n  SyntaxError: bad\n", "files": [{"name": "a.txt"}]},
        "metadata": {"stopped": None, "timeout": 30.0},
    }
    # The text claims success; the envelope says otherwise, and the envelope wins.
    facts = run_facts(ToolMessage("the code ran successfully (exit code 0)", tool_call_id="c", artifact=envelope))
    assert facts["exit_code"] == 2 and facts["stderr_tail"] == "SyntaxError: bad" and facts["files"] == ["a.txt"]
    assert failure_reason(facts) == "the program exited with code 2 (SyntaxError: bad)"
    changed = {"success": True, "answer": "ok", "data": {"exit_code": 0, "files": [
        {"name": "data.csv", "changed": False}, {"name": "plot.png", "changed": True}]}, "metadata": {}}  # fmt: skip
    ok = run_facts(ToolMessage("ok", tool_call_id="c", artifact=changed))
    assert ok["files"] == ["plot.png"] and failure_reason(ok, ["plot.png"]) is None
    assert failure_reason(ok, ["./plot.png", "data.csv"]) == "the program did not write the expected file(s): data.csv"
    timed_out = {
        "success": False,
        "answer": "x",
        "data": {"exit_code": -9},
        "metadata": {"stopped": "timeout", "timeout": 5},
    }
    assert failure_reason(run_facts(ToolMessage("x", tool_call_id="c", artifact=timed_out))) == (
        "it ran past its time limit of 5 s and was stopped"
    )
    # Without an envelope (tools app down) there is no exit code: never a success.
    down = run_facts(ToolMessage("tools service unavailable: ConnectError", tool_call_id="c", status="error"))
    assert down["exit_code"] is None
    assert failure_reason(down) == "the run did not complete: tools service unavailable: ConnectError"


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


class AlwaysDone(ScriptedChatModel):
    """A backend whose writer always returns `code` (promising `files`) and whose verifier always
    says done: only facts can stop ultrawork from calling a failed run a success."""

    code: str = ""
    files: list[str] = []

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.calls.append(list(messages))
        first = messages[0].text if messages else ""
        if first.startswith("You check whether a program run"):
            return ai_tool_calls(tool_call("Verdict", done=True, feedback="looks done", summary="done"))
        if first.startswith("You write a complete"):
            return ai_tool_calls(tool_call("CodeDraft", code=self.code, files=self.files, explanation=""))
        return AIMessage("All done, it worked perfectly.")


@pytest.mark.parametrize(
    ("code", "files", "reason"),
    [
        ("print(6 * 7", [], "the program exited with code 1 (SyntaxError: '(' was never closed)"),
        ("raise ValueError('boom')", [], "the program exited with code 1 (ValueError: boom)"),
        ("while True: pass", [], "it ran past its time limit of 30 s and was stopped"),
        ("print(42)", ["report.csv"], "the program did not write the expected file(s): report.csv"),
    ],
)
async def test_a_failed_run_is_never_done_whatever_the_verifier_says(code: str, files: list[str], reason: str) -> None:
    llm = AlwaysDone(code=code, files=files)
    graph = build_graph("ultrawork", llm=llm, tools=[python_coder], checkpointer=InMemorySaver(), max_iterations=2)
    run = await run_graph(graph, "compute 6*7 and save it")

    assert [a["verdict"]["done"] for a in run.state["attempts"]] == [False, False]
    assert [a["failure"] for a in run.state["attempts"]] == [reason, reason]
    assert run.answer.startswith(FAILED_NOTE.format(n=2, reason=reason))
    report_prompt = llm.calls[-1][-1].text
    assert f"Status: FAILED after 2 attempt(s) (limit 2): {reason}" in report_prompt
    assert "confirmed by the verifier" not in report_prompt
    # The verifier was never asked to judge a run that failed as a matter of fact.
    assert not any(c[0].text.startswith("You check whether") for c in llm.calls)


async def test_verifier_decides_only_runs_that_succeeded() -> None:
    llm = AlwaysDone(code="print('result:', 6 * 7)", files=["out.txt"])
    graph = build_graph("ultrawork", llm=llm, tools=[python_coder], checkpointer=InMemorySaver(), max_iterations=2)
    run = await run_graph(graph, "compute 6*7 and save it")

    assert [a["verdict"]["done"] for a in run.state["attempts"]] == [True]
    assert run.state["failure"] == "" and run.answer == "All done, it worked perfectly."
    assert "".join(run.tokens) == run.answer  # a confirmed report streams as usual
