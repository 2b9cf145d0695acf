"""The chat model's own stream (core/openai_stream.py) against a real HTTP backend: the same
messages as the SDK's path, the same errors, one retry before an answer, tool calls intact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_openai import ChatOpenAI

from core.llm import BackendInfo, build_chat_model
from tests.conftest import make_settings
from tests.scripted_llm import Reply, ScriptedLLM, scripted_llm, tool_call


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLM]:
    with scripted_llm() as llm:
        yield llm


def _model(llm: ScriptedLLM, tmp_path: Path) -> Any:
    info = BackendInfo("openai", llm.url, "scripted-model", "test", api_key="k")
    return build_chat_model(info, make_settings(tmp_path))


async def test_an_answer_is_the_same_message_the_sdk_path_gives(llm_server: ScriptedLLM, tmp_path: Path) -> None:
    model = _model(llm_server, tmp_path)
    sdk = ChatOpenAI(base_url=llm_server.url, api_key="k", model="scripted-model", max_retries=0, stream_usage=True)  # type: ignore[arg-type]
    llm_server.push("two words", "two words")
    ours = await model.ainvoke([HumanMessage("hi")])
    theirs = await sdk.ainvoke([HumanMessage("hi")], stream=True)
    await model.http_async_client.aclose()
    assert isinstance(ours, AIMessage)
    assert ours.content == theirs.content == "two words"
    assert ours.usage_metadata == theirs.usage_metadata
    assert ours.usage_metadata is not None and ours.usage_metadata["output_tokens"] == 2
    assert ours.response_metadata["finish_reason"] == "stop"
    first = llm_server.requests[0]
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    assert first["messages"] == [{"role": "user", "content": "hi"}]


async def test_streamed_tool_calls_arrive_whole(llm_server: ScriptedLLM, tmp_path: Path) -> None:
    model = _model(llm_server, tmp_path)
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    llm_server.push(Reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, "call_1")]))
    merged: AIMessageChunk | None = None
    async for chunk in model.bind(tools=[tool]).astream([HumanMessage("weather?")]):
        merged = chunk if merged is None else merged + chunk
    await model.http_async_client.aclose()
    assert merged is not None
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [("get_weather", {"city": "Oslo"}, "call_1")]
    assert llm_server.requests[0]["tools"] == [tool]


async def test_a_5xx_before_the_answer_is_retried_once(llm_server: ScriptedLLM, tmp_path: Path) -> None:
    model = _model(llm_server, tmp_path)
    llm_server.push(Reply(status=503), "fine")
    answer = await model.ainvoke([HumanMessage("hi")])
    assert answer.content == "fine" and len(llm_server.requests) == 2

    llm_server.push(Reply(status=500), Reply(status=500), "not reached")
    with pytest.raises(openai.InternalServerError) as failed:
        await model.ainvoke([HumanMessage("hi")])
    await model.http_async_client.aclose()
    assert failed.value.status_code == 500 and "scripted failure" in failed.value.message
    assert len(llm_server.requests) == 4  # one try and one retry, then the error


async def test_a_4xx_is_the_sdks_own_error_and_not_retried(llm_server: ScriptedLLM, tmp_path: Path) -> None:
    model = _model(llm_server, tmp_path)
    llm_server.push(Reply(status=400), "not reached")
    with pytest.raises(openai.BadRequestError):
        await model.ainvoke([HumanMessage("hi")])
    await model.http_async_client.aclose()
    assert len(llm_server.requests) == 1


async def test_a_refused_connection_is_the_sdks_connection_error(tmp_path: Path) -> None:
    from tests.servers import free_port

    info = BackendInfo("openai", f"http://127.0.0.1:{free_port()}/v1", "m", "test", api_key="k")
    model: Any = build_chat_model(info, make_settings(tmp_path))
    with pytest.raises(openai.APIConnectionError):
        await model.ainvoke([HumanMessage("hi")])
    await model.http_async_client.aclose()
