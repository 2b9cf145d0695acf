"""Shared fixtures: isolated settings per test (own DATA_DIR, own secrets)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from settings import Settings
from tests.pg import fresh_database, postgres_bin, postgres_server

# Tests never reach a real LLM server or the internet by accident.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "jwt_secret_key": secrets.token_urlsafe(48),
        "tools_api_key": secrets.token_urlsafe(32),
        "llm_backend": "openai",
        "openai_base_url": "http://127.0.0.1:9/v1",
        "openai_api_key": "test",
        "tools_url": "http://127.0.0.1:9",
        "backend_probe_timeout": 0.5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that use `store` in a module (or package conftest) with `BOTH_STORES = True`
    run twice: on SQLite and on a fresh PostgreSQL database (issue 14)."""
    if "store" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_STORES", False):
        metafunc.parametrize("store", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL binaries not installed; `make test-deps` installs them")
    with postgres_server() as url:
        yield url


@pytest.fixture
def store(request: pytest.FixtureRequest) -> dict[str, object]:
    """Settings overrides naming the store: SQLite (the default) or a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return {}
    url = fresh_database(request.getfixturevalue("pg_cluster"))
    return {"database_url": url, "checkpoint_url": url}
