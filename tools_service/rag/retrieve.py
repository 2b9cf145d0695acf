"""Ranking chunks of one snapshot: dense, BM25, reciprocal rank fusion, cross-encoder.

Scores returned to clients (`score`, in [0, 1], best first):
- one ranked list (dense alone, one query): the cosine similarity;
- one ranked list (BM25 alone, one query): BM25 divided by the best BM25 of that query;
- several lists (hybrid and/or multi-query): the RRF score normalised by its maximum,
  sum_l w_l / (k + rank_l) / sum_l w_l / (k + 1), so 1.0 means "first in every list";
- reranked: the cross-encoder's relevance, squashed by a sigmoid.

Those scores rank, but they do not mean the same thing across modes, so
RAG_MIN_SCORE_THRESHOLD applies to `similarity` instead: the cosine similarity between
the query embedding and the chunk embedding, computed for every candidate whatever
ranked it (BM25 hits included). A threshold of 0.3 thus drops the same weak chunks in
dense, BM25 and hybrid modes. With multi-query, it is the best similarity over the
query and its variants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tools_service.rag.index import search
from tools_service.rag.store import Snapshot, tokenize

__all__ = ["Hit", "RetrievalParams", "dense_ranking", "sparse_ranking", "rrf_fuse", "rank", "rerank"]

Ranking = list[tuple[int, float]]  # (row, retriever score), best first


@dataclass(frozen=True)
class RetrievalParams:
    mode: str = "hybrid"  # hybrid | dense | sparse
    top_k: int = 5
    candidates: int = 50
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    min_similarity: float = 0.0


@dataclass
class Hit:
    row: int
    score: float
    similarity: float


def dense_ranking(snapshot: Snapshot, qvec: np.ndarray, k: int) -> Ranking:
    if snapshot.index is None or not snapshot.size:
        return []
    scores, ids = search(snapshot.index, qvec.reshape(1, -1), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def sparse_ranking(snapshot: Snapshot, query: str, k: int) -> Ranking:
    tokens = tokenize(query)
    if snapshot.bm25 is None or not tokens:
        return []
    scores = snapshot.bm25.get_scores(tokens)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def rrf_fuse(rankings: Sequence[Ranking], weights: Sequence[float], k: float) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion, normalised to [0, 1] (see the module docstring)."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    best = sum(w / (k + 1) for w in weights) or 1.0
    return sorted(((row, s / best) for row, s in fused.items()), key=lambda x: -x[1])


def rank(snapshot: Snapshot, queries: list[str], qvecs: np.ndarray, params: RetrievalParams) -> list[Hit]:
    """Candidates for the queries, best first, before reranking and the top-k cut."""
    rankings: list[Ranking] = []
    weights: list[float] = []
    for query, qvec in zip(queries, qvecs, strict=True):
        if params.mode in ("hybrid", "dense"):
            rankings.append(dense_ranking(snapshot, qvec, params.candidates))
            weights.append(params.dense_weight)
        if params.mode in ("hybrid", "sparse"):
            rankings.append(sparse_ranking(snapshot, query, params.candidates))
            weights.append(params.sparse_weight)
    if len(rankings) == 1:
        ranking = rankings[0]
        top = ranking[0][1] if ranking else 1.0
        scored = ranking if params.mode == "dense" else [(r, s / top if top > 0 else 0.0) for r, s in ranking]
    else:
        scored = rrf_fuse(rankings, weights, params.rrf_k)
    if not scored:
        return []
    rows = np.fromiter((r for r, _ in scored), dtype=np.int64, count=len(scored))
    sims = (snapshot.embeddings[rows] @ qvecs.T).max(axis=1)
    hits = [Hit(int(r), float(s), float(sim)) for (r, s), sim in zip(scored, sims, strict=True)]
    if params.min_similarity > 0:
        hits = [h for h in hits if h.similarity >= params.min_similarity]
    return hits


def rerank(snapshot: Snapshot, query: str, hits: list[Hit], model: Any, top_n: int) -> list[Hit]:
    """Reorder the first `top_n` hits by a sentence-transformers CrossEncoder; the rest
    keep their order below them (their fused scores are not comparable, so they get 0)."""
    head, tail = hits[:top_n], hits[top_n:]
    if not head:
        return hits
    import torch

    pairs = [(query, snapshot.texts[h.row]) for h in head]
    logits = model.predict(pairs, show_progress_bar=False, activation_fn=torch.nn.Identity())
    for hit, logit in zip(head, np.asarray(logits, dtype=np.float64).reshape(-1), strict=True):
        hit.score = 1.0 / (1.0 + math.exp(-float(logit)))
    head.sort(key=lambda h: -h.score)
    for hit in tail:
        hit.score = 0.0
    return head + tail
