"""One query against a snapshot: multi-query expansion, ranking, reranking, results.

Runs the CPU work (query embedding, FAISS, BM25, fusion, cross-encoder) in a worker
thread; the LLM call for expansion is the only await, and it holds no lock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langchain_core.language_models import BaseChatModel

from core.errors import APIError
from settings import Settings
from tools_service.rag import store
from tools_service.rag.expand import expand_query
from tools_service.rag.models import RagModels
from tools_service.rag.retrieve import RetrievalParams, rank, rerank

__all__ = ["run_query", "settings_params", "MAX_CANDIDATES"]

log = logging.getLogger(__name__)

EXPANSION_TIMEOUT_S = 30.0
MAX_CANDIDATES = 2000


async def run_query(
    models: RagModels,
    s: Settings,
    snap: store.Snapshot,
    query: str,
    top_k: int | None = None,
    *,
    mode: str | None = None,
    use_rerank: bool | None = None,
) -> list[dict[str, Any]]:
    """Expand (optionally), rank and rerank (optionally) in a worker thread."""
    top_k = top_k or s.rag_top_k
    if not snap.size:
        return []
    queries = [query]
    if s.rag_use_multi_query:
        llm = await _llm_or_none(models)
        if llm is not None:
            queries += await expand_query(llm, query, s.rag_multi_query_count, EXPANSION_TIMEOUT_S)
    do_rerank = models.reranking_enabled if use_rerank is None else (use_rerank and models.reranking_enabled)
    params = settings_params(
        s,
        mode=mode or ("hybrid" if s.rag_use_hybrid else "dense"),
        top_k=top_k,
        candidates=min(MAX_CANDIDATES, max(2 * top_k, s.rag_rerank_top_n if do_rerank else 0, 50)),
        min_similarity=s.rag_min_score_threshold,
    )
    return await asyncio.to_thread(_search, models, s, snap, queries, params, do_rerank)


def settings_params(s: Settings, **query: Any) -> RetrievalParams:
    """The ranking settings (fusion, feedback) as RetrievalParams; `query` adds per-query fields."""
    return RetrievalParams(
        fusion=s.rag_fusion,
        rrf_k=s.rag_rrf_k,
        dense_weight=s.rag_dense_weight,
        sparse_weight=s.rag_sparse_weight,
        doc_fusion=s.rag_doc_fusion,
        prf_docs=s.rag_prf_docs,
        prf_terms=s.rag_prf_terms,
        prf_weight=s.rag_prf_weight,
        dense_prf_docs=s.rag_dense_prf_docs,
        dense_prf_weight=s.rag_dense_prf_weight,
        sparse_original_weight=s.rag_sparse_original_weight,
        dense_original_weight=s.rag_dense_original_weight,
        **query,
    )


async def _llm_or_none(models: RagModels) -> BaseChatModel | None:
    try:
        return await models.llm()
    except Exception as exc:
        log.warning("no LLM for multi-query expansion: %s", exc)
        return None


def _search(
    models: RagModels, s: Settings, snap: store.Snapshot, queries: list[str], params: RetrievalParams, do_rerank: bool
) -> list[dict[str, Any]]:
    qvecs = models.embed(queries, queries=True)
    if snap.dim is not None and qvecs.shape[1] != snap.dim:
        raise APIError(
            409,
            f"collection was indexed with {snap.dim}-dimensional embeddings by another model; re-create it",
            code="embedding_mismatch",
        )
    hits = rank(snap, queries, qvecs, params)
    if do_rerank and hits:
        hits = rerank(snap, queries[0], hits, models.reranker(), s.rag_rerank_top_n)
    return [
        {
            "document_id": snap.doc_of(h.row),
            "filename": snap.documents[snap.doc_of(h.row)]["filename"],
            "chunk_id": snap.chunk_id(h.row),
            "text": snap.text(h.row),
            "score": round(h.score, 6),
            "similarity": round(h.similarity, 6),
        }
        for h in hits[: params.top_k]
    ]
