"""Black-box fixtures: a scripted LLM server, the main app over real HTTP, a logged-in user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from settings import Settings
from tests.conftest import make_settings
from tests.scripted_llm import ScriptedLLM, scripted_llm
from tests.servers import serve_app


@dataclass
class Platform:
    url: str
    settings: Settings
    llm: ScriptedLLM
    token: str

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def login(self, username: str, password: str) -> str:
        resp = httpx.post(self.url + "/api/auth/login", json={"username": username, "password": password}, timeout=60)
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def signup(self, username: str, password: str = "correct-horse-battery") -> str:
        resp = httpx.post(self.url + "/api/auth/signup", json={"username": username, "password": password})
        resp.raise_for_status()
        return str(resp.json()["access_token"])


class ManualClock:
    """Wall-clock time that moves only when a test says so: time-window rules (lockouts)
    then behave the same on a fast machine and on a loaded one."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLM]:
    with scripted_llm() as llm:
        yield llm


def platform_settings(data_dir: Path, llm: ScriptedLLM, **overrides: object) -> Settings:
    return make_settings(
        data_dir,
        llm_backend="openai",
        openai_base_url=llm.url,
        openai_model="scripted-model",
        default_agent="chat",
        **overrides,
    )


@contextmanager
def serve_platform(
    data_dir: Path,
    llm: ScriptedLLM,
    *,
    with_tools: bool = False,
    clock: Callable[[], float] | None = None,
    **overrides: object,
) -> Iterator[Platform]:
    """The main app (and, `with_tools`, the tools app it calls) with these settings overrides."""
    settings = platform_settings(data_dir, llm, **overrides)
    with ExitStack() as stack:
        if with_tools:
            from tools_service.main import create_app as create_tools_app

            tools_url = stack.enter_context(serve_app(create_tools_app(settings)))
            settings = settings.model_copy(update={"tools_url": tools_url})
        url = stack.enter_context(serve_app(create_app(settings, clock=clock)))
        p = Platform(url=url, settings=settings, llm=llm, token="")
        p.token = p.login("admin", "administrator")
        yield p


@pytest.fixture
def platform(data_dir: Path, llm_server: ScriptedLLM, store: dict[str, Any]) -> Iterator[Platform]:
    with serve_platform(data_dir, llm_server, **store) as p:
        yield p


@pytest.fixture
def platform_with_tools(data_dir: Path, llm_server: ScriptedLLM) -> Iterator[Platform]:
    """The main app calling a real tools app (same settings and secrets) at `settings.tools_url`."""
    with serve_platform(data_dir, llm_server, with_tools=True) as p:
        yield p
