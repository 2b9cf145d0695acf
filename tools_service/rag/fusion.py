"""Fusing ranked lists, at chunk or document level: weighted reciprocal rank fusion, or a
weighted sum of normalised scores.

Each list position earns a credit, and a row's fused score is the sum of its credits
over the lists, divided by the best possible sum (so 1.0 means "first in every list"):
- `rrf`: w / (k + rank), best sum_l w_l / (k + 1);
- `score` (a convex combination with theoretical min-max normalisation, Bruch et al.,
  "An analysis of fusion functions for hybrid retrieval", TOIS 2023): w * s / s_top,
  with s clipped at 0 (the floor of BM25 and of a useful cosine) and s_top the list's
  best score; best sum_l w_l. Unlike RRF it keeps how far ahead a top hit is; a list
  that lacks a row gives it no credit, so dense lists are re-scored over every
  candidate first (retrieve.combine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tools_service.rag.store import Snapshot

__all__ = ["Ranking", "FusionParams", "chunk_fuse", "doc_fuse", "fuse_rankings"]

Ranking = list[tuple[int, float]]  # (row, retriever score), best first


class FusionParams(Protocol):
    """What fusion reads of a query's settings (retrieve.RetrievalParams has them)."""

    @property
    def mode(self) -> str: ...
    @property
    def fusion(self) -> str: ...
    @property
    def rrf_k(self) -> float: ...
    @property
    def doc_fusion(self) -> bool: ...


def _credits(ranking: Sequence[tuple[object, float]], weight: float, params: FusionParams) -> list[float]:
    """Each position's share of the fused score (see the module docstring)."""
    if params.fusion == "rrf":
        return [weight / (params.rrf_k + rank) for rank in range(1, len(ranking) + 1)]
    top = ranking[0][1] if ranking else 0.0
    return [weight * max(0.0, s) / top if top > 0 else 0.0 for _, s in ranking]


def _best(weights: Sequence[float], params: FusionParams) -> float:
    best = sum(w / (params.rrf_k + 1) for w in weights) if params.fusion == "rrf" else sum(weights)
    return best or 1.0


def chunk_fuse(rankings: Sequence[Ranking], weights: Sequence[float], params: FusionParams) -> Ranking:
    """Chunk-level fusion, normalised to [0, 1] (see the module docstring)."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for (row, _), credit in zip(ranking, _credits(ranking, weight, params), strict=True):
            fused[row] = fused.get(row, 0.0) + credit
    best = _best(weights, params)
    return sorted(((row, s / best) for row, s in fused.items()), key=lambda x: -x[1])


def doc_fuse(
    snapshot: Snapshot, rankings: Sequence[Ranking], weights: Sequence[float], params: FusionParams
) -> Ranking:
    """Document-level fusion: each list ranks documents by their best chunk (its rank among
    documents for RRF, its score for score fusion), and a document's best chunk takes its
    document's fused score; its other chunks keep their own (chunk-level) fused score. A
    document ranks at least as high in every list as any of its chunks, so its best chunk
    always comes first, and the order of first appearances is the document ranking (many
    short matches no longer beat one strong one)."""
    chunk = dict(chunk_fuse(rankings, weights, params))
    docs: dict[str, float] = {}
    best = _best(weights, params)
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: dict[str, float] = {}  # each document's best score in this list, in order
        for row, score in ranking:
            seen.setdefault(snapshot.doc_of(row), score)
        for doc, credit in zip(seen, _credits(list(seen.items()), weight, params), strict=True):
            docs[doc] = docs.get(doc, 0.0) + credit / best
    best_chunk: dict[str, int] = {}
    for row, score in chunk.items():
        doc = snapshot.doc_of(row)
        if doc not in best_chunk or score > chunk[best_chunk[doc]]:
            best_chunk[doc] = row
    lead = set(best_chunk.values())
    scored = [(row, docs[snapshot.doc_of(row)] if row in lead else score) for row, score in chunk.items()]
    return sorted(scored, key=lambda x: (-x[1], x[0] not in lead))


def fuse_rankings(snapshot: Snapshot, rankings: list[Ranking], weights: list[float], params: FusionParams) -> Ranking:
    """The lists as one ranking: a single list keeps its own (normalised) scores, several
    are fused at document or chunk level. Shared by the feedback's first pass and the
    final ranking, so both rank the same way."""
    if len(rankings) == 1:
        ranking = rankings[0]
        top = ranking[0][1] if ranking else 1.0
        return ranking if params.mode == "dense" else [(r, s / top if top > 0 else 0.0) for r, s in ranking]
    if params.doc_fusion:
        return doc_fuse(snapshot, rankings, weights, params)
    return chunk_fuse(rankings, weights, params)
