"""The `ultrawork` agent, for code-heavy tasks: write → run → verify → refine.

A writer (structured output: the program) drafts code; the graph runs it with the
`python_coder` tool in the user's session workspace; a verifier (structured output: a
verdict) judges the run against the task from the evidence (exit code, output, files);
while it is not done, the writer refines with the feedback, up to `max_iterations` attempts.

Facts come before opinions: a run that exited non-zero, timed out or was stopped, never
completed, or did not write a file the writer promised is "not done" without asking the
verifier (`graphs.runs`, from the tool's structured result, not its wording); a verdict
that cannot be read is "not done" too. After the last attempt, a failed task's answer
opens with a plain statement that it failed and why, written by code, not by the model.
Attempts and verdicts live in state keys, not `messages`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from graphs.deps import INTERNAL, AgentContext, configured_model, context_of, progress
from graphs.prompts import render_prompt, with_system_prompt
from graphs.runs import failure_reason, run_facts
from graphs.text import last_user_text, short, visible_conversation

__all__ = [
    "CodeDraft",
    "Verdict",
    "UltraworkState",
    "build_ultrawork_graph",
    "NO_SANDBOX_ANSWER",
    "FAILED_NOTE",
    "UNVERIFIED_NOTE",
    "run_facts",
]

log = logging.getLogger(__name__)

CODE_TOOL = "python_coder"
FAILED_NOTE = "**The task failed** after {n} attempt(s): {reason}."
UNVERIFIED_NOTE = "**The task is not verified as done** after {n} attempt(s): {reason}."
NO_SANDBOX_ANSWER = (
    "I can't run code here: the `python_coder` tool is not available to this agent, so the "
    "ultrawork agent cannot write, run and check a program. Ask again with the tools service "
    "running, or use the `chat` agent for an answer without running code."
)


# Length bounds in the JSON schema only (see graphs.plan_execute): they stop a grammar-constrained
# small model from generating until its token limit, without rejecting longer answers elsewhere.
class CodeDraft(BaseModel):
    code: str = Field(description="the complete Python program", json_schema_extra={"maxLength": 12000})
    files: list[str] = Field(
        default_factory=list,
        description="names of the files the task asks for, which the program saves in the working directory",
        json_schema_extra={"maxItems": 10},
    )
    explanation: str = Field(
        default="", description="one sentence on the approach", json_schema_extra={"maxLength": 300}
    )


class Verdict(BaseModel):
    done: bool = Field(description="true only if the run shows the task fully accomplished")
    feedback: str = Field(
        default="",
        description="what is wrong or missing, or what confirms success",
        json_schema_extra={"maxLength": 600},
    )
    summary: str = Field(
        default="", description="the result in one or two sentences", json_schema_extra={"maxLength": 300}
    )


class UltraworkState(MessagesState, total=False):
    task: str
    iteration: int
    code: str
    expected_files: list[str]  # files the writer said the program saves
    run: dict[str, Any]  # graphs.runs.run_facts of the latest run: exit_code, stopped, output, files, ...
    failure: str  # why the latest run cannot be done (graphs.runs.failure_reason), "" if it ran fine
    verdict: dict[str, Any]  # Verdict of the latest run
    attempts: list[dict[str, Any]]  # one record per attempt: code, run, verdict


def build_ultrawork_graph(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    max_iterations: int = 5,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the write/run/verify loop; `max_iterations` (ULTRAWORK_MAX_ITERATIONS) bounds attempts."""
    coder = next((t for t in tools or [] if t.name == CODE_TOOL), None)
    runner = ToolNode([coder], handle_tool_errors=True) if coder else None

    async def prepare(state: UltraworkState) -> dict[str, Any]:
        reset = {
            "task": last_user_text(state["messages"]),
            "iteration": 0,
            "code": "",
            "expected_files": [],
            "run": {},
            "failure": "",
            "verdict": {},
            "attempts": [],
        }
        if runner is None:
            progress("python_coder is not available: cannot run code.")
            return {**reset, "messages": [AIMessage(NO_SANDBOX_ANSWER)]}
        return reset

    async def write(state: UltraworkState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        iteration = state.get("iteration", 0) + 1
        feedback = ""
        if state.get("code"):
            run = state.get("run") or {}
            feedback = render_prompt(
                "ultrawork",
                "refine",
                iteration=iteration - 1,
                code=state["code"],
                exit_code=run.get("exit_code"),
                output=run.get("output") or "(no output)",
                feedback=(state.get("verdict") or {}).get("feedback", ""),
            )
        prompt = render_prompt("ultrawork", "writer", task=state.get("task", ""), feedback=feedback)
        progress(
            f"Attempt {iteration}: writing code" + (" with the reviewer's feedback" if feedback else ""),
            iteration=iteration,
        )
        draft: CodeDraft | None = None
        try:
            model = configured_model(llm, ctx).with_structured_output(CodeDraft)
            # The visible conversation, so a follow-up ("now plot it too") keeps its context.
            conversation = visible_conversation(state["messages"], ctx.max_history)
            result = await model.ainvoke([SystemMessage(prompt), *conversation], config=INTERNAL)
            draft = result if isinstance(result, CodeDraft) else None
        except Exception:  # no draft is a failed attempt, judged below like any other
            log.warning("code writer failed", exc_info=True)
        code = draft.code.strip() if draft else ""
        expected = [f.strip() for f in draft.files if f.strip()] if draft else []
        return {"iteration": iteration, "code": code, "expected_files": expected}

    async def run(state: UltraworkState, config: RunnableConfig) -> dict[str, Any]:
        assert runner is not None
        code = state.get("code", "")
        if not code:
            return {"run": {}}
        progress(f"Running the code with {CODE_TOOL} ({len(code.splitlines())} lines)", code=code)
        call = {"name": CODE_TOOL, "args": {"code": code}, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}
        out = await runner.ainvoke({"messages": [AIMessage("", tool_calls=[call])]}, config)
        message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
        facts = run_facts(message)
        files = f"; files: {', '.join(facts['files'])}" if facts["files"] else ""
        progress(f"Run finished (exit code {facts['exit_code']}){files}: {short(facts['output'])}", run=facts)
        return {"run": facts}

    async def verify(state: UltraworkState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        run = state.get("run") or {}
        failure = failure_reason(run, state.get("expected_files")) if state.get("code") else None
        verdict: Verdict | None = None
        if not state.get("code"):
            failure = "no program was produced"
            verdict = Verdict(done=False, feedback="No program was produced. Return a complete Python program.")
        elif failure:  # a fact, not an opinion: the verifier is not asked
            verdict = Verdict(done=False, feedback=f"The run failed: {failure}. Fix that.", summary=failure)
        else:
            prompt = render_prompt(
                "ultrawork",
                "verifier",
                task=state.get("task", ""),
                code=state["code"],
                exit_code=run.get("exit_code"),
                output=run.get("output") or "(no output)",
                files=", ".join(run.get("files") or []) or "(none)",
            )
            try:
                model = configured_model(llm, ctx).with_structured_output(Verdict)
                result = await model.ainvoke([SystemMessage(prompt), HumanMessage("Judge this run.")], config=INTERNAL)
                verdict = result if isinstance(result, Verdict) else None
            except Exception:  # unreadable verdict = not done (below), never "adequate"
                log.warning("verifier failed", exc_info=True)
            if verdict is None:
                verdict = Verdict(
                    done=False,
                    feedback="The verifier's verdict could not be read, so the run is "
                    "unverified. Make the program print clear evidence that the task is done.",
                )
        status = "done" if verdict.done else "not done"
        progress(f"Verifier: {status} — {short(verdict.feedback or verdict.summary)}", verdict=verdict.model_dump())
        attempt = {
            "iteration": state.get("iteration", 0),
            "code": state.get("code", ""),
            "run": run,
            "failure": failure or "",
            "verdict": verdict.model_dump(),
        }
        return {
            "verdict": verdict.model_dump(),
            "failure": failure or "",
            "attempts": [*(state.get("attempts") or []), attempt],
        }

    async def report(state: UltraworkState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        run, verdict = state.get("run") or {}, state.get("verdict") or {}
        iterations = state.get("iteration", 0)
        failure = state.get("failure") or ""
        done = bool(verdict.get("done")) and not failure
        if done:
            status = f"done, confirmed by the verifier after {iterations} attempt(s)"
        elif failure:
            status = f"FAILED after {iterations} attempt(s) (limit {max_iterations}): {failure}"
        else:
            status = f"NOT verified as done after {iterations} attempt(s) (limit {max_iterations})"
        ask = render_prompt(
            "ultrawork",
            "report",
            status=status,
            iterations=iterations,
            code=state.get("code") or "(none)",
            exit_code=run.get("exit_code"),
            output=run.get("output") or "(no output)",
            files=", ".join(run.get("files") or []) or "(none)",
            check=verdict.get("feedback") or verdict.get("summary") or "(no verdict)",
        )
        history = with_system_prompt(state["messages"], ctx, "ultrawork")
        if done:
            return {"messages": [await configured_model(llm, ctx).ainvoke([*history, HumanMessage(ask)])]}
        # Not done: the answer opens with the plain facts, whatever the model writes after them,
        # so it is built whole (internal call) rather than streamed token by token.
        reply = await configured_model(llm, ctx).ainvoke([*history, HumanMessage(ask)], config=INTERNAL)
        if failure:
            note = FAILED_NOTE.format(n=iterations, reason=failure)
        else:
            why = verdict.get("feedback") or "the result could not be verified"
            note = UNVERIFIED_NOTE.format(n=iterations, reason=why.rstrip("."))
        answer = AIMessage(
            content=f"{note}\n\n{reply.text.strip()}".strip(),
            id=reply.id,
            usage_metadata=getattr(reply, "usage_metadata", None),
            response_metadata=reply.response_metadata,
        )
        return {"messages": [answer]}

    def after_prepare(state: UltraworkState) -> Literal["write", "__end__"]:
        return "write" if runner is not None else "__end__"

    def after_verify(state: UltraworkState) -> Literal["write", "report"]:
        done = bool((state.get("verdict") or {}).get("done")) and not state.get("failure")
        return "report" if done or state.get("iteration", 0) >= max_iterations else "write"

    graph = StateGraph(UltraworkState, context_schema=AgentContext)
    graph.add_node("prepare", prepare)
    graph.add_node("write", write)
    graph.add_node("run", run)
    graph.add_node("verify", verify)
    graph.add_node("report", report)
    graph.add_edge(START, "prepare")
    graph.add_conditional_edges("prepare", after_prepare, ["write", END])
    graph.add_edge("write", "run")
    graph.add_edge("run", "verify")
    graph.add_conditional_edges("verify", after_verify, ["write", "report"])
    graph.add_edge("report", END)
    return graph.compile(checkpointer=checkpointer, name="ultrawork")
