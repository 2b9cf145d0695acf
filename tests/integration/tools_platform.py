"""The main app in front of a real tools app (RAG with the hashing embedder, the real
sandbox), both over real HTTP: what the one-port proxy and the web chat tests run on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from app.main import create_app
from tests.integration.conftest import Platform, platform_settings
from tests.rag.helpers import HashEmbeddings
from tests.scripted_llm import ScriptedLLM
from tests.servers import serve_app

__all__ = ["serve_with_tools"]


@contextmanager
def serve_with_tools(data_dir: Path, llm: ScriptedLLM, **overrides: object) -> Iterator[Platform]:
    from tools_service.main import create_app as create_tools_app

    settings = platform_settings(data_dir, llm, **overrides)
    with ExitStack() as stack:
        tools = create_tools_app(settings)
        tools.state.rag_embeddings = HashEmbeddings()  # the embedding model only; RAG itself is real
        settings = settings.model_copy(update={"tools_url": stack.enter_context(serve_app(tools))})
        url = stack.enter_context(serve_app(create_app(settings)))
        p = Platform(url=url, settings=settings, llm=llm, token="")
        p.token = p.login("admin", "administrator")
        yield p
