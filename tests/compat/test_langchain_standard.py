"""LangChain's standard chat-model suite (`langchain-tests`) with `ChatOpenAI` pointed at the
platform, backed by the scripted OpenAI-compatible server:

- a backend model id (pass-through): tool calling, tool choice, structured output and JSON
  mode are declared supported;
- the `react` agent id: tool calling and tool choice (client tools on agents: the caller's
  tools join the agent's own, a call to one comes back as `tool_calls`, and the next request's
  results resume the run), structured output and JSON mode (the agent's answer reshaped).

Real HTTP end to end: ChatOpenAI → main app → scripted backend. The scripted backend calls
an offered tool by itself (`auto_tools`), as a well-behaved model does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI
from langchain_tests.integration_tests import ChatModelIntegrationTests

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import scripted_llm
from tools_service.contracts import all_contracts

_PLATFORM: dict[str, Platform] = {}


@pytest.fixture(scope="module", autouse=True)
def platform_for_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with scripted_llm() as llm:
        llm.auto_tools = True
        llm.auto_tools_skip = {c.name for c in all_contracts()}  # the agent's own: not called unasked
        with serve_platform(Path(tmp_path_factory.mktemp("lc-standard")), llm) as p:
            _PLATFORM["p"] = p
            yield p
            _PLATFORM.clear()


class TestBackendModelThroughPlatform(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict[str, Any]:
        p = _PLATFORM["p"]
        return {
            "model": "scripted-model",
            "base_url": p.v1,
            "api_key": p.token,
            "max_retries": 0,
            "timeout": 60,
            "stream_usage": True,
            # a client per model: langchain-openai's shared one is bound to the first test's event loop
            "http_async_client": httpx.AsyncClient(timeout=60),
        }

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False  # the scripted backend cannot see; pass-through of image parts is tested elsewhere

    @property
    def returns_usage_metadata(self) -> bool:
        return True


class TestReactAgentThroughPlatform(TestBackendModelThroughPlatform):
    """`model="react"`: an agent, not the backend, answers; the caller's tools are client tools."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {**super().chat_model_params, "model": "react"}
