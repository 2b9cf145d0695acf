"""Tools-app fixtures: the real app over real HTTP, users with real JWTs, the real sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.security import create_access_token
from settings import Settings
from tests.accounts import ensure_account
from tests.conftest import make_settings
from tests.servers import serve_app
from tools_service.main import create_app

CODE = "/api/tools/python_coder"
FILES = "/api/tools/python_coder/files"

requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (`make system-deps` installs it; CI has it)"
)


@dataclass
class ToolsApp:
    url: str
    settings: Settings

    def user(self, user_id: str, timeout: float = 60) -> httpx.Client:
        """An HTTP client that acts as `user_id` with a JWT, as a browser or notebook would."""
        ensure_account(self.settings, user_id)
        token = create_access_token(user_id, self.settings.jwt_secret, hours=1)
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def service(self, user_id: str, timeout: float = 60) -> httpx.Client:
        """An HTTP client that acts as the main app vouching for `user_id`."""
        headers = {"X-API-Key": self.settings.tools_key, "X-User-Id": user_id}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def workspace(self, user_id: str, session_id: str) -> Path:
        return self.settings.data_dir / "scratch" / user_id / session_id


@contextmanager
def run_tools_app(data_dir: Path, **overrides: object) -> Iterator[ToolsApp]:
    settings = make_settings(data_dir, **overrides)
    with serve_app(create_app(settings)) as url:
        yield ToolsApp(url, settings)


ToolsAppFactory = Callable[..., AbstractContextManager[ToolsApp]]


@pytest.fixture
def tools_app_factory(tmp_path: Path) -> ToolsAppFactory:
    counter = iter(range(1000))

    def factory(**overrides: object) -> AbstractContextManager[ToolsApp]:
        data_dir = tmp_path / f"data{next(counter)}"
        data_dir.mkdir()
        return run_tools_app(data_dir, **overrides)

    return factory


@pytest.fixture
def tools_app(tools_app_factory: ToolsAppFactory) -> Iterator[ToolsApp]:
    with tools_app_factory() as app:
        yield app
