"""The `plan_execute` agent: plan → execute each step → replan → synthesize.

The planner returns a Pydantic plan (structured output) of at most `max_steps` steps; each
step runs as a ReAct subgraph that sees the request, the plan and earlier results; after
each step the replanner finishes, continues or revises the remaining steps; a final model
call writes the answer. The plan and every step's result live in the graph state (`plan`,
`past_steps`), so Studio shows them, while `messages` gets only the one final answer.

The step executor is injected (`executor=`): the registry passes a ReAct loop compiled for
internal use, so this module imports no other agent.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime, get_runtime
from pydantic import BaseModel, Field, create_model

from graphs.deps import INTERNAL, AgentContext, configured_model, context_of, progress
from graphs.prompts import render_prompt, with_system_prompt
from graphs.text import last_user_text, short, visible_conversation

__all__ = ["PlanStep", "Plan", "Replan", "PlanExecuteState", "build_plan_execute_graph"]

log = logging.getLogger(__name__)


# Length bounds go into the JSON schema only (`json_schema_extra`), not into validation: a
# grammar-constrained backend (llama.cpp) then cannot ramble for minutes, and a backend that
# ignores them still gets its answer accepted.
class PlanStep(BaseModel):
    goal: str = Field(
        description="what this step must achieve, self-contained", json_schema_extra={"minLength": 1, "maxLength": 300}
    )
    tool: str | None = Field(
        default=None, description="name of a tool that fits this step, if any", json_schema_extra={"maxLength": 64}
    )


class Plan(BaseModel):
    steps: list[PlanStep] = Field(description="the steps, in order")


class Replan(BaseModel):
    action: Literal["finish", "continue", "revise"] = Field(description="what to do next")
    steps: list[PlanStep] = Field(default_factory=list, description="new remaining steps when action is revise")
    reason: str = Field(default="", description="why, in one sentence", json_schema_extra={"maxLength": 200})


def _step(step: PlanStep, tool_names: set[str]) -> dict[str, Any]:
    """A plan step for the state; a suggested tool that does not exist is dropped, not passed on."""
    return {"goal": step.goal.strip(), "tool": step.tool if step.tool in tool_names else None}


def _bounded(schema: type[BaseModel], max_steps: int, min_steps: int) -> type[BaseModel]:
    """`schema` whose `steps` list is limited to `max_steps` in the JSON schema the model gets."""
    field = schema.model_fields["steps"]
    extra: dict[str, Any] = {"minItems": min_steps, "maxItems": max_steps}
    steps: Any = Field(default_factory=list, description=field.description, json_schema_extra=extra)
    return create_model(schema.__name__, __base__=schema, steps=(list[PlanStep], steps))


class PlanExecuteState(MessagesState, total=False):
    task: str
    plan: list[dict[str, Any]]  # steps still to run, as PlanStep dicts
    past_steps: list[dict[str, Any]]  # {"goal", "tool", "result"} per step run, in order
    decision: str  # the replanner's last action


def _numbered(steps: list[dict[str, Any]]) -> str:
    if not steps:
        return "(none)"
    return "\n".join(
        f"{i}. {s['goal']}" + (f" [tool: {s['tool']}]" if s.get("tool") else "") for i, s in enumerate(steps, 1)
    )


def _results(past: list[dict[str, Any]]) -> str:
    if not past:
        return "(none yet)"
    return "\n\n".join(f"Step {i}: {s['goal']}\nResult: {s['result']}" for i, s in enumerate(past, 1))


def build_plan_execute_graph(
    *,
    llm: BaseChatModel,
    tools: list[BaseTool] | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    executor: CompiledStateGraph[Any, Any, Any, Any] | None = None,
    max_steps: int = 5,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the planner/executor/replanner graph.

    `executor` runs one step: a graph over `messages` (the step's brief as a system message,
    its goal as the user's) whose last message is the step's result. The registry passes a
    ReAct loop over the same tools, compiled without a checkpointer (a step's inner loop is
    not checkpointed on its own; its result is, in `past_steps`), with its model calls tagged
    internal. `max_steps` (PLAN_MAX_STEPS) bounds the plan's length and the number of steps
    run per turn, revisions included.
    """
    if executor is None:
        raise ValueError("plan_execute needs a step executor: build it with graphs.build_graph('plan_execute', ...)")
    tools = list(tools or [])
    plan_schema, replan_schema = _bounded(Plan, max_steps, 1), _bounded(Replan, max_steps, 0)
    tool_names = {t.name for t in tools}
    tool_list = "\n".join(f"- {t.name}: {short(t.description, 160)}" for t in tools) or "(no tools)"

    async def planner(state: PlanExecuteState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        task = last_user_text(state["messages"])
        prompt = SystemMessage(render_prompt("plan_execute", "planner", max_steps=max_steps, tools=tool_list))
        plan: Plan | None = None
        try:
            model = configured_model(llm, ctx).with_structured_output(plan_schema)
            conversation = visible_conversation(state["messages"], ctx.max_history)
            result = await model.ainvoke([prompt, *conversation], config=INTERNAL)
            plan = result if isinstance(result, Plan) else None
        except Exception:  # a bad plan must not sink the request: fall back to doing it in one step
            log.warning("planner failed; using a single-step plan", exc_info=True)
        steps = [_step(s, tool_names) for s in (plan.steps if plan else []) if s.goal.strip()][:max_steps]
        if not steps:
            steps = [PlanStep(goal=task).model_dump()]
        progress(f"Plan:\n{_numbered(steps)}", plan=steps)
        return {"task": task, "plan": steps, "past_steps": [], "decision": ""}

    async def execute(state: PlanExecuteState, config: RunnableConfig) -> dict[str, Any]:
        ctx = context_of(get_runtime(AgentContext))
        plan, past = list(state.get("plan") or []), list(state.get("past_steps") or [])
        step = plan[0]
        number = len(past) + 1
        progress(f"Step {number}: {step['goal']}", step=number, goal=step["goal"])
        hint = f" (suggested tool: {step['tool']})" if step.get("tool") else ""
        brief = render_prompt(
            "plan_execute",
            "executor",
            task=state.get("task", ""),
            plan=_numbered(past + plan),
            past_steps=_results(past),
            step=step["goal"],
            tool_hint=hint,
        )
        out = await executor.ainvoke(
            {"messages": [SystemMessage(brief), HumanMessage(step["goal"])]}, config, context=ctx
        )
        final = out["messages"][-1]
        result = final.text if isinstance(final, AIMessage) else str(final.content)
        progress(f"Step {number} result: {short(result, 300)}", step=number, result=short(result, 1000))
        return {"plan": plan[1:], "past_steps": [*past, {**step, "result": result}]}

    async def replan(state: PlanExecuteState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        plan, past = list(state.get("plan") or []), list(state.get("past_steps") or [])
        budget = max_steps - len(past)
        if budget <= 0:
            progress(f"Reached the limit of {max_steps} steps; writing the answer.")
            return {"plan": [], "decision": "finish"}
        prompt = render_prompt(
            "plan_execute",
            "replanner",
            task=state.get("task", ""),
            past_steps=_results(past),
            remaining=_numbered(plan),
            budget=budget,
        )
        decision: Replan | None = None
        try:
            model = configured_model(llm, ctx).with_structured_output(replan_schema)
            result = await model.ainvoke(
                [SystemMessage(prompt), HumanMessage("Decide the next action.")], config=INTERNAL
            )
            decision = result if isinstance(result, Replan) else None
        except Exception:  # an unreadable decision keeps the current plan
            log.warning("replanner failed; continuing with the plan", exc_info=True)
        if decision is None:
            decision = Replan(action="continue" if plan else "finish", reason="replanner gave no usable decision")
        if decision.action == "revise":
            new = [_step(s, tool_names) for s in decision.steps if s.goal.strip()][:budget]
            if new:
                progress(f"Revised plan ({decision.reason}):\n{_numbered(new)}", plan=new)
                return {"plan": new, "decision": "revise"}
            decision = Replan(action="finish", reason=decision.reason)
        if decision.action == "continue" and plan:
            return {"plan": plan[:budget], "decision": "continue"}
        progress(f"Enough to answer{f': {decision.reason}' if decision.reason else ''}.")
        return {"plan": [], "decision": "finish"}

    async def synthesize(state: PlanExecuteState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        history = with_system_prompt(state["messages"], ctx, "plan_execute")
        ask = HumanMessage(render_prompt("plan_execute", "synthesize", results=_results(state.get("past_steps") or [])))
        reply = await configured_model(llm, ctx).ainvoke([*history, ask])
        return {"messages": [reply]}

    def after_replan(state: PlanExecuteState) -> Literal["execute", "synthesize"]:
        return "execute" if state.get("plan") else "synthesize"

    graph = StateGraph(PlanExecuteState, context_schema=AgentContext)
    graph.add_node("planner", planner)
    graph.add_node("execute", execute)
    graph.add_node("replan", replan)
    graph.add_node("synthesize", synthesize)
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "execute")
    graph.add_edge("execute", "replan")
    graph.add_conditional_edges("replan", after_replan, ["execute", "synthesize"])
    graph.add_edge("synthesize", END)
    return graph.compile(checkpointer=checkpointer, name="plan_execute")
