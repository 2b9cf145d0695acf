"""The models RAG uses, each loaded lazily and once: the embedding model (first upload
or query), the cross-encoder (first reranked query) and the LLM (first multi-query).
Loading MiniLM takes seconds, and most deployments never rerank or expand queries.
Tests inject their own objects instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from settings import Settings

__all__ = ["RagModels"]

log = logging.getLogger(__name__)

PROGRESS_SLICE = 256  # texts per progress report


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
        self._onnx: Callable[[list[str], bool], np.ndarray] | None = None
        self._onnx_failed: str | None = None if embeddings is None else "embeddings injected"
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

    def encoder(self) -> Callable[[list[str], bool], np.ndarray] | None:
        """The ONNX Runtime encoder when RAG_EMBEDDING_BACKEND picks it (and it can run
        this model on this device), else None (torch via `embeddings()`)."""
        s = self.settings
        if self._onnx is not None or self._embeddings is not None:
            return self._onnx
        if s.rag_embedding_backend == "torch" or s.rag_embedding_device != "cpu":
            return None
        with self._model_lock:
            if self._onnx is None and self._onnx_failed is None:
                self._onnx = self._load_onnx()
            return self._onnx

    def _load_onnx(self) -> Callable[[list[str], bool], np.ndarray] | None:
        from pathlib import Path

        from tools_service.rag import onnx_embed

        s = self.settings
        model_dir = Path(s.rag_embedding_model)
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            self._onnx_failed = str(exc)
        else:
            if not onnx_embed.supported(model_dir):
                self._onnx_failed = f"{model_dir} is not a local mean-pooled sentence-transformers model"
        if self._onnx_failed is not None:
            if s.rag_embedding_backend != "auto":
                raise RuntimeError(f"RAG_EMBEDDING_BACKEND={s.rag_embedding_backend}: {self._onnx_failed}")
            log.info("embedding with torch: %s", self._onnx_failed)
            return None
        quantized = s.rag_embedding_backend == "onnx-int8"
        try:
            onnx_embed.export(model_dir, s.data_dir / "models", quantized)
            path = onnx_embed.onnx_path(model_dir, s.data_dir / "models", quantized=quantized)
            # Queries: one thread (latency; see _single_thread_torch). Documents: all cores
            # (throughput), without spin-waiting, which would steal cycles from queries.
            for_queries = onnx_embed.OnnxEncoder(model_dir, path, threads=1)
            for_docs = onnx_embed.OnnxEncoder(model_dir, path, threads=s.rag_embedding_threads or os.cpu_count() or 1)
        except Exception as exc:
            if s.rag_embedding_backend != "auto":
                raise
            self._onnx_failed = f"ONNX export or load failed: {exc}"
            log.warning("embedding with torch: %s", self._onnx_failed)
            return None
        log.info("embedding with ONNX Runtime (%s)", path.name)
        batch = s.rag_embedding_batch_size
        return lambda texts, queries: (for_queries if queries else for_docs)(texts, batch_size=batch)

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

    def embed(
        self, texts: list[str], *, queries: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Unit-length float32 vectors. Texts go in length-sorted slices (less padding per
        batch) and `progress(done, total)` is called after each slice. Uses
        SentenceTransformer.encode directly when available (numpy out, no per-float
        Python lists); other models get `embed_query` for queries, since some embed
        them differently."""
        total = len(texts)
        if total == 0:
            return np.zeros((0, 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        step = max(PROGRESS_SLICE, self.settings.rag_embedding_batch_size)
        for start in range(0, total, step):
            idx = order[start : start + step]
            block = self._encode([texts[i] for i in idx], queries=queries)
            if out is None:
                out = np.empty((total, block.shape[1]), dtype=np.float32)
            out[idx] = block
            if progress is not None:
                progress(min(total, start + step), total)
        assert out is not None
        return out

    def _encode(self, texts: list[str], *, queries: bool) -> np.ndarray:
        encoder = self.encoder()
        if encoder is not None:
            vectors = encoder(texts, queries)
        else:
            model = self.embeddings()
            client = getattr(model, "_client", None)
            if client is not None and hasattr(client, "encode"):
                vectors = client.encode(
                    texts,
                    batch_size=self.settings.rag_embedding_batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            elif queries:
                vectors = np.asarray([model.embed_query(t) for t in texts], dtype=np.float32)
            else:
                vectors = np.asarray(model.embed_documents(texts), dtype=np.float32)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)
