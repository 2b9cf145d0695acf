"""Fusing ranked lists: weighted reciprocal rank fusion, at chunk or document level.

Scores are normalised by their maximum possible value, sum_l w_l / (k + 1), so 1.0 means
"first in every list" (see tools_service/rag/retrieve.py for what each mode's score means).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tools_service.rag.store import Snapshot

__all__ = ["Ranking", "FusionParams", "rrf_fuse", "doc_fuse", "fuse_rankings"]

Ranking = list[tuple[int, float]]  # (row, retriever score), best first


class FusionParams(Protocol):
    """What fusion reads of a query's settings (retrieve.RetrievalParams has them)."""

    @property
    def mode(self) -> str: ...
    @property
    def rrf_k(self) -> float: ...
    @property
    def doc_fusion(self) -> bool: ...


def rrf_fuse(rankings: Sequence[Ranking], weights: Sequence[float], k: float) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion, normalised to [0, 1] (see the module docstring)."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    best = sum(w / (k + 1) for w in weights) or 1.0
    return sorted(((row, s / best) for row, s in fused.items()), key=lambda x: -x[1])


def doc_fuse(
    snapshot: Snapshot, rankings: Sequence[Ranking], weights: Sequence[float], k: float
) -> list[tuple[int, float]]:
    """Document-level RRF: each list ranks documents by their best chunk, and a
    document's best chunk takes its document's fused score; its other chunks keep their
    own (chunk-level) fused score. A document ranks at least as high in every list as
    any of its chunks, so its best chunk always comes first, and the order of first
    appearances is the document ranking (many short matches no longer beat one strong one)."""
    chunk = dict(rrf_fuse(rankings, weights, k))
    docs: dict[str, float] = {}
    best_norm = sum(w / (k + 1) for w in weights) or 1.0
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for row, _ in ranking:
            doc = snapshot.doc_of(row)
            if doc not in seen:
                seen.add(doc)
                docs[doc] = docs.get(doc, 0.0) + weight / (k + len(seen)) / best_norm
    best_chunk: dict[str, int] = {}
    for row, score in chunk.items():
        doc = snapshot.doc_of(row)
        if doc not in best_chunk or score > chunk[best_chunk[doc]]:
            best_chunk[doc] = row
    lead = {row for row in best_chunk.values()}
    scored = [(row, docs[snapshot.doc_of(row)] if row in lead else score) for row, score in chunk.items()]
    return sorted(scored, key=lambda x: (-x[1], x[0] not in lead))


def fuse_rankings(snapshot: Snapshot, rankings: list[Ranking], weights: list[float], params: FusionParams) -> Ranking:
    """The lists as one ranking: a single list keeps its own (normalised) scores, several
    are fused by RRF at document or chunk level. Shared by the feedback's first pass and
    the final ranking, so both rank the same way."""
    if len(rankings) == 1:
        ranking = rankings[0]
        top = ranking[0][1] if ranking else 1.0
        return ranking if params.mode == "dense" else [(r, s / top if top > 0 else 0.0) for r, s in ranking]
    if params.doc_fusion:
        return doc_fuse(snapshot, rankings, weights, params.rrf_k)
    return rrf_fuse(rankings, weights, params.rrf_k)
