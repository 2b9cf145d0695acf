"""Backend selection for LLM_BACKEND=auto, probed over real HTTP against stand-in servers."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.llm import choose_backend, with_options
from tests.conftest import make_settings
from tests.fakes import ScriptedChatModel
from tests.servers import free_port, serve_app


def _ollama() -> Starlette:
    async def tags(_: object) -> JSONResponse:
        return JSONResponse({"models": [{"name": "qwen2.5:0.5b"}]})

    return Starlette(routes=[Route("/api/tags", tags)])


def _llamacpp() -> Starlette:
    async def models(_: object) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "local"}]})

    return Starlette(routes=[Route("/v1/models", models)])


async def test_auto_prefers_ollama(tmp_path: Path) -> None:
    with serve_app(_ollama()) as ollama, serve_app(_llamacpp()) as llamacpp:
        s = make_settings(tmp_path, llm_backend="auto", ollama_host=ollama, llamacpp_host=llamacpp)
        name, reason = await choose_backend(s)
    assert name == "ollama" and ollama in reason


async def test_auto_falls_back_to_llamacpp(tmp_path: Path) -> None:
    with serve_app(_llamacpp()) as llamacpp:
        s = make_settings(
            tmp_path, llm_backend="auto", ollama_host=f"http://127.0.0.1:{free_port()}", llamacpp_host=llamacpp
        )
        name, _ = await choose_backend(s)
    assert name == "llamacpp"


async def test_auto_falls_back_to_embedded(tmp_path: Path) -> None:
    s = make_settings(
        tmp_path,
        llm_backend="auto",
        ollama_host=f"http://127.0.0.1:{free_port()}",
        llamacpp_host=f"http://127.0.0.1:{free_port()}",
    )
    name, reason = await choose_backend(s)
    assert name == "embedded" and "answered" in reason


async def test_explicit_backend_is_not_probed(tmp_path: Path) -> None:
    s = make_settings(tmp_path, llm_backend="ollama", ollama_host=f"http://127.0.0.1:{free_port()}")
    assert (await choose_backend(s))[0] == "ollama"


def test_with_options_keeps_zero_temperature() -> None:
    from langchain_openai import ChatOpenAI

    base = ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", model="m", temperature=0.7)  # type: ignore[arg-type]
    tuned = with_options(base, temperature=0.0, max_tokens=7, model="other")
    assert tuned.temperature == 0.0 and tuned.max_tokens == 7 and tuned.model_name == "other"
    assert base.temperature == 0.7, "the shared model is not changed"
    fake = ScriptedChatModel(responses=["x"])
    assert with_options(fake, temperature=0.0) is not None
