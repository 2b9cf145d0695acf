"""RAG fixtures: a tools app served over real HTTP with a chosen embedding model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from core.security import create_access_token
from settings import Settings
from tests.accounts import ensure_account
from tests.rag.helpers import HashEmbeddings
from tests.servers import serve_app
from tools_service.main import create_app

API = "/api/tools/rag"


@dataclass
class RagClient:
    """An HTTP client acting as one user."""

    http: httpx.Client
    user: str

    def create(self, name: str) -> httpx.Response:
        return self.http.post(f"{API}/collections", json={"name": name})

    def upload(self, collection: str, files: dict[str, bytes]) -> httpx.Response:
        parts = [("files", (name, data)) for name, data in files.items()]
        return self.http.post(f"{API}/upload", data={"collection": collection}, files=parts)

    def query(self, collection: str, query: str, **extra: Any) -> httpx.Response:
        return self.http.post(f"{API}/query", json={"collection": collection, "query": query, **extra})

    def results(self, collection: str, query: str, **extra: Any) -> list[dict[str, Any]]:
        resp = self.query(collection, query, **extra)
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]["results"]  # type: ignore[no-any-return]

    def documents(self, collection: str) -> list[dict[str, Any]]:
        resp = self.http.get(f"{API}/collections/{collection}/documents")
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]["documents"]  # type: ignore[no-any-return]


@dataclass
class RagServer:
    url: str
    settings: Settings
    app: Any

    def client(self, user: str = "alice") -> RagClient:
        ensure_account(self.settings, user)
        token = create_access_token(user, self.settings.jwt_secret, hours=1)
        http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        return RagClient(http, user)


ServerFactory = Callable[..., AbstractContextManager[RagServer]]


@pytest.fixture
def rag_server(settings: Settings) -> ServerFactory:
    """`with rag_server(embeddings=..., llm=..., settings=...) as server:` serves a fresh app."""

    @contextmanager
    def start(
        *,
        embeddings: Any = None,
        llm: Any = None,
        reranker: Any = None,
        settings_: Settings | None = None,
        real_embeddings: bool = False,
    ) -> Iterator[RagServer]:
        app = create_app(settings_ or settings)
        if not real_embeddings:
            app.state.rag_embeddings = embeddings or HashEmbeddings()
        app.state.rag_llm = llm
        app.state.rag_reranker = reranker
        with serve_app(app) as url:
            yield RagServer(url, settings_ or settings, app)

    return start
