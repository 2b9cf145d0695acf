"""The backend's model list is cached briefly: one listing per TTL, however many requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.services import catalog
from core.llm import BackendInfo, LLMService, build_chat_model
from tests.conftest import make_settings
from tests.scripted_llm import scripted_llm


def test_backend_models_cached_for_ttl(tmp_path: Path) -> None:
    with scripted_llm() as llm:
        settings = make_settings(tmp_path, openai_base_url=llm.url)
        info = BackendInfo("openai", llm.url, "scripted-model", "test", api_key="x")
        service = LLMService(info, build_chat_model(info, settings), settings)

        async def run() -> list[list[str]]:
            try:
                return [
                    await catalog.backend_models(service, now=100.0),
                    await catalog.backend_models(service, now=100.0 + catalog.TTL - 1),
                    await catalog.backend_models(service, now=100.0 + catalog.TTL + 1),
                ]
            finally:
                await service.aclose()

        seen = asyncio.run(run())
        assert seen == [["scripted-model"]] * 3
        assert llm.model_listings == 2, "the second call came from the cache, the third after the TTL"
