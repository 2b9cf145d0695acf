"""Fixtures for several replicas on one store. `store` (tests/conftest.py) is
SQLite or a fresh PostgreSQL database; every test here runs on both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from app.main import create_app
from tests.integration.conftest import Platform, platform_settings
from tests.scripted_llm import ScriptedLLM, scripted_llm
from tests.servers import serve_app


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLM]:
    with scripted_llm() as llm:
        yield llm


@pytest.fixture
def replicas(data_dir: Path, llm_server: ScriptedLLM, store: dict[str, object]) -> Iterator[list[Platform]]:
    """Two main-app replicas (each its own app, pools and runner) on one store and DATA_DIR."""
    settings = platform_settings(data_dir, llm_server, **store)
    with ExitStack() as stack:
        found = []
        for _ in range(2):
            url = stack.enter_context(serve_app(create_app(settings)))
            found.append(Platform(url=url, settings=settings, llm=llm_server, token=""))
        for p in found:
            p.token = p.login("admin", "administrator")
        yield found
