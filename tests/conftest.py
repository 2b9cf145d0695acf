"""Shared fixtures: isolated settings per test (own DATA_DIR, own secrets)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from settings import Settings

# Tests never reach a real LLM server or the internet by accident.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
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
