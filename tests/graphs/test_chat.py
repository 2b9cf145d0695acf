"""The `chat` graph: one model call, history capped for the model but kept in storage."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphs import AgentContext, build_graph
from tests.fakes import ScriptedChatModel


async def test_chat_caps_history_for_the_model_not_in_storage() -> None:
    model = ScriptedChatModel(responses=[f"answer {i}" for i in range(6)])
    graph = build_graph("chat", llm=model, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    ctx = AgentContext(max_history=3)
    for i in range(6):
        await graph.ainvoke({"messages": [HumanMessage(f"q{i}")]}, config, context=ctx)
    sent = model.calls[-1]
    assert isinstance(sent[0], SystemMessage)
    assert [m.content for m in sent[1:]] == ["q4", "answer 4", "q5"]
    stored = (await graph.aget_state(config)).values["messages"]
    assert len(stored) == 12, "nothing stored was deleted"


async def test_chat_keeps_client_system_prompt_and_adds_attachments() -> None:
    model = ScriptedChatModel(responses=["ok"])
    graph = build_graph("chat", llm=model)
    ctx = AgentContext(attachments="The user attached data.csv")
    await graph.ainvoke({"messages": [SystemMessage("You are terse."), HumanMessage("hi")]}, context=ctx)
    sent = model.calls[0]
    systems = [m.content for m in sent if isinstance(m, SystemMessage)]
    assert systems == ["The user attached data.csv", "You are terse."]


async def test_chat_default_system_prompt_rendered() -> None:
    model = ScriptedChatModel(responses=["ok"])
    await build_graph("chat", llm=model).ainvoke({"messages": [HumanMessage("hi")]})
    first = model.calls[0][0]
    assert isinstance(first, SystemMessage) and "{" not in str(first.content)
