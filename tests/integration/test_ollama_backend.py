"""The Ollama provider path, against a stand-in speaking Ollama's /api/chat NDJSON protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from app.main import create_app
from tests.conftest import make_settings
from tests.servers import serve_app


class FakeOllama:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def tags(self, _: Request) -> JSONResponse:
        return JSONResponse({"models": [{"name": "tiny:latest", "model": "tiny:latest"}]})

    async def chat(self, request: Request) -> StreamingResponse | JSONResponse:
        body = await request.json()
        self.requests.append(body)
        words = ["Hello", " from", " Ollama"]

        async def lines() -> AsyncIterator[bytes]:
            for w in words:
                yield (
                    json.dumps(
                        {
                            "model": body["model"],
                            "created_at": "2026-01-01T00:00:00Z",
                            "message": {"role": "assistant", "content": w},
                            "done": False,
                        }
                    )
                    + "\n"
                ).encode()
            yield (
                json.dumps(
                    {
                        "model": body["model"],
                        "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": "stop",
                        "prompt_eval_count": 9,
                        "eval_count": 3,
                    }
                )
                + "\n"
            ).encode()

        if body.get("stream", True):
            return StreamingResponse(lines(), media_type="application/x-ndjson")
        return JSONResponse(
            {
                "model": body["model"],
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": "".join(words)},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 9,
                "eval_count": 3,
            }
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/tags", self.tags), Route("/api/chat", self.chat, methods=["POST"])])


def test_ollama_backend_end_to_end(data_dir: Path) -> None:
    fake = FakeOllama()
    with serve_app(fake.app()) as ollama:
        settings = make_settings(data_dir, llm_backend="auto", ollama_host=ollama, default_agent="chat")
        with serve_app(create_app(settings)) as url:
            token = httpx.post(url + "/api/auth/login", json={"username": "admin", "password": "administrator"}).json()[
                "access_token"
            ]
            h = {"Authorization": f"Bearer {token}"}
            r = httpx.post(
                url + "/v1/chat/completions",
                headers=h,
                timeout=30,
                json={"model": "chat", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 200, r.text
            assert r.json()["choices"][0]["message"]["content"] == "Hello from Ollama"
            assert r.json()["usage"]["total_tokens"] == 12
            assert fake.requests[-1]["model"] == "tiny:latest"
            assert fake.requests[-1]["options"]["temperature"] == 0
            models = httpx.get(url + "/v1/models", headers=h).json()
            assert "tiny:latest" in [m["id"] for m in models["data"]]
            assert httpx.get(url + "/health").json()["backend"]["name"] == "ollama"
