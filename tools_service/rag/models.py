"""The models RAG uses, each loaded lazily and once: the embedding model (first upload
or query), the cross-encoder (first reranked query) and the LLM (first multi-query).
Loading MiniLM takes seconds, and most deployments never rerank or expand queries.
Tests inject their own objects instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from settings import Settings

__all__ = ["RagModels"]

log = logging.getLogger(__name__)


class RagModels:
    def __init__(
        self,
        settings: Settings,
        *,
        embeddings: Embeddings | None = None,
        llm: BaseChatModel | None = None,
        reranker: Any = None,
    ) -> None:
        self.settings = settings
        self._embeddings = embeddings
        self._llm = llm
        self._reranker = reranker
        self._model_lock = threading.Lock()
        self._llm_lock = asyncio.Lock()
        self.embedding_model_name = (
            settings.rag_embedding_model if embeddings is None else f"injected:{type(embeddings).__name__}"
        )

    def embeddings(self) -> Embeddings:
        with self._model_lock:
            if self._embeddings is None:
                from langchain_huggingface import HuggingFaceEmbeddings

                log.info(
                    "loading embedding model %s on %s",
                    self.settings.rag_embedding_model,
                    self.settings.rag_embedding_device,
                )
                if self.settings.rag_embedding_device == "cpu":
                    self._single_thread_torch()
                self._embeddings = HuggingFaceEmbeddings(
                    model_name=self.settings.rag_embedding_model,
                    model_kwargs={"device": self.settings.rag_embedding_device, "local_files_only": True},
                    encode_kwargs={"normalize_embeddings": True},
                )
            return self._embeddings

    @staticmethod
    def _single_thread_torch() -> None:
        """One intra-op thread per encode call. With two threads on two cores, a query's
        embedding waits for a core that another request (or process) holds: measured here
        with one core busy, MiniLM query p50/p95 went from 66/218 ms (2 threads) to 31/34 ms
        (1 thread). Concurrent requests still use both cores, one each."""
        import torch

        torch.set_num_threads(1)

    @property
    def reranking_enabled(self) -> bool:
        return self._reranker is not None or bool(self.settings.rag_reranker_model)

    def reranker(self) -> Any:
        with self._model_lock:
            if self._reranker is None and self.settings.rag_reranker_model:
                from sentence_transformers import CrossEncoder

                log.info("loading reranker %s", self.settings.rag_reranker_model)
                self._reranker = CrossEncoder(
                    self.settings.rag_reranker_model, device=self.settings.rag_embedding_device, local_files_only=True
                )
            return self._reranker

    async def llm(self) -> BaseChatModel:
        async with self._llm_lock:
            if self._llm is None:
                from core.llm import build_chat_model, resolve_backend

                self._llm = build_chat_model(await resolve_backend(self.settings), self.settings)
            return self._llm

    def embed(self, texts: list[str], *, queries: bool = False) -> np.ndarray:
        """Unit-length float32 vectors; uses SentenceTransformer.encode directly when
        available (numpy out, no per-float Python lists: several times faster at scale).
        Other models get `embed_query` for queries, since some embed them differently."""
        model = self.embeddings()
        client = getattr(model, "_client", None)
        if client is not None and hasattr(client, "encode"):
            vectors = client.encode(
                texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        elif queries:
            vectors = np.asarray([model.embed_query(t) for t in texts], dtype=np.float32)
        else:
            vectors = np.asarray(model.embed_documents(texts), dtype=np.float32)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)
