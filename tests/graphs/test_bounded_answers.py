"""Bounded answers by default: a per-backend `max_tokens` on every model call, and a guard
that cuts a looping stream. The model is the real `ChatOpenAI` path `core.llm` builds, talking
to the scripted OpenAI-compatible server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage

from core.llm import BackendInfo, build_chat_model, default_max_tokens, tool_calling_mode
from core.repetition import STOP_REASON, RepetitionDetector
from settings import Settings
from tests.conftest import make_settings
from tests.scripted_llm import ScriptedLLM, scripted_llm


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLM]:
    with scripted_llm() as server:
        yield server


@pytest.mark.parametrize(
    ("backend", "overrides", "expected"),
    [
        ("embedded", {}, 512),
        ("openai", {}, 4096),
        ("embedded", {"embedded_max_tokens": 200}, 200),
        ("openai", {"default_max_tokens": 1000}, 1000),
        ("embedded", {"default_max_tokens": 1000}, 1000),
        ("openai", {"backend_max_tokens": 0}, None),
    ],
)
async def test_every_call_carries_the_backends_default_max_tokens(
    llm_server: ScriptedLLM, data_dir: Path, backend: str, overrides: dict[str, int], expected: int | None
) -> None:
    settings = make_settings(data_dir, **overrides)
    assert default_max_tokens(backend, settings) == expected
    llm = build_chat_model(BackendInfo(backend, llm_server.url, "m"), settings)
    llm_server.push("fine")
    assert (await llm.ainvoke([HumanMessage("hi")])).text == "fine"
    body = llm_server.requests[-1]
    assert body.get("max_completion_tokens", body.get("max_tokens")) == expected  # the OpenAI SDK's new name


async def test_a_looping_stream_is_cut_with_finish_reason_length(llm_server: ScriptedLLM, data_dir: Path) -> None:
    llm = build_chat_model(BackendInfo("openai", llm_server.url, "m"), make_settings(data_dir))
    loop = "I will check the result again now. " * 200
    llm_server.push("Sure. " + loop)
    chunks = [c async for c in llm.astream([HumanMessage("go")])]
    message = chunks[0]
    for chunk in chunks[1:]:
        message = message + chunk
    assert isinstance(message, AIMessageChunk)
    text = message.text
    assert text.startswith("Sure. I will check the result again now.")
    assert len(text.split()) < 60  # 1,400 words were on their way
    assert message.response_metadata["finish_reason"] == "length"
    assert message.response_metadata["stop_reason"] == STOP_REASON

    # Not streamed by the caller: the guard still reads the backend's stream and cuts it.
    llm_server.push("Sure. " + loop)
    reply = await llm.ainvoke([HumanMessage("go")])
    assert len(reply.text.split()) < 60 and reply.response_metadata["finish_reason"] == "length"
    assert llm_server.requests[-1]["stream"] is True

    # A non-looping answer of the same length streams whole, finished as the backend said.
    prose = " ".join(f"word{i}" for i in range(1400))
    llm_server.push(prose)
    whole = "".join([c.text async for c in llm.astream([HumanMessage("go")])])
    assert whole == prose


def test_detector_needs_a_real_loop() -> None:
    def loops(text: str) -> bool:
        detector = RepetitionDetector()
        return any(detector.feed(piece + " ") for piece in text.split(" "))

    assert loops("the " * 41)
    assert not loops("the " * 30)  # a short run of one word is not a loop yet
    assert loops("Step one is done. " * 12)  # a 4-word block, 10 times
    assert loops(("A long sentence of fifteen words that the model keeps on saying again and again. ") * 3)
    code = "\n".join(f"print({i} * {i})" for i in range(200))
    assert not loops(code.replace("\n", " \n "))
    table = " ".join(f"| {i} | {i * i} |" for i in range(100))
    assert not loops(table)


def test_tool_calling_mode_per_backend(data_dir: Path) -> None:
    settings: Settings = make_settings(data_dir, tool_calling_mode="auto")

    assert tool_calling_mode(settings, "embedded") == "structured"
    assert tool_calling_mode(settings, "ollama") == "native"
    assert tool_calling_mode(settings, "injected") == "native"
    assert tool_calling_mode(make_settings(data_dir, tool_calling_mode="structured"), "openai") == "structured"
    assert tool_calling_mode(make_settings(data_dir, tool_calling_mode="native"), "embedded") == "native"
