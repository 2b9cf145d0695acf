"""Fixtures for several replicas on one store: the store is SQLite (one file in a shared
DATA_DIR) or PostgreSQL (a fresh database in a throwaway cluster), parametrised, so the
same test runs on both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from app.main import create_app
from tests.integration.conftest import Platform, platform_settings
from tests.pg import postgres_bin, postgres_server
from tests.scripted_llm import ScriptedLLM, scripted_llm
from tests.servers import serve_app


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL binaries not installed; `make test-deps` installs them")
    with postgres_server() as url:
        yield url


def fresh_database(cluster: str) -> str:
    """A new, empty database in the cluster (one per test: no state leaks between tests)."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(cluster, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> dict[str, object]:
    """Settings overrides naming the store: SQLite by default, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    url = fresh_database(request.getfixturevalue("pg_cluster"))
    return {"database_url": url, "checkpoint_url": url}


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
