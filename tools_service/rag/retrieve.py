"""Ranking chunks of one snapshot: dense, BM25, feedback, fusion, cross-encoder.

Scores returned to clients (`score`, in [0, 1], best first):
- one ranked list (dense alone, one query): the cosine similarity (to the query vector
  after dense feedback, `dense_feedback`, when that is on);
- one ranked list (BM25 alone, one query, one pass kept): BM25 divided by the best BM25;
- several lists (hybrid, multi-query, or BM25's first pass kept beside its feedback pass):
  the fused score normalised by its maximum, so 1.0 means "first in every list": for RRF
  sum_l w_l / (k + rank_l) / sum_l w_l / (k + 1), for score fusion
  sum_l w_l * s_l / top_l / sum_l w_l (tools_service/rag/fusion.py);
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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tools_service.rag.fusion import Ranking, fuse_rankings
from tools_service.rag.index import search
from tools_service.rag.sparse import bm25_scores, doc_freqs, idf, tokenize
from tools_service.rag.store import Snapshot

__all__ = [
    "Hit",
    "RetrievalParams",
    "dense_ranking",
    "sparse_ranking",
    "sparse_rankings",
    "dense_feedback",
    "rescore_dense",
    "combine",
    "rank",
    "rerank",
]


@dataclass(frozen=True)
class RetrievalParams:
    mode: str = "hybrid"  # hybrid | dense | sparse
    top_k: int = 5
    candidates: int = 50
    fusion: str = "rrf"  # rrf | score (tools_service/rag/fusion.py)
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    min_similarity: float = 0.0
    doc_fusion: bool = True
    prf_docs: int = 0  # pseudo-relevance feedback for BM25: feedback chunks (0 = off)
    prf_terms: int = 10
    prf_weight: float = 0.5
    prf_idf: bool = True  # rank feedback terms by P(t|R) * idf (False: RM3's P(t|R) alone)
    dense_prf_docs: int = 0  # dense feedback: first-pass top documents averaged into the query (0 = off)
    dense_prf_weight: float = 1.0  # weight of their mean vector against the query vector
    # Fusion weights of the lists *before* feedback, fused next to the fed-back ones (0 = the
    # fed-back list replaces its first pass): feedback then adds evidence, never overrides it.
    sparse_original_weight: float = 0.0
    dense_original_weight: float = 0.0


@dataclass
class Hit:
    row: int
    score: float
    similarity: float


def dense_ranking(snapshot: Snapshot, qvec: np.ndarray, k: int) -> Ranking:
    """The k nearest live chunks over all segments (tombstones skipped inside FAISS)."""
    found: Ranking = []
    for view in snapshot.views:
        if not view.live_rows:
            continue
        scores, ids = search(view.segment.index, qvec.reshape(1, -1), k, view.params)
        found.extend((view.offset + int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0)
    found.sort(key=lambda x: -x[1])
    return found[:k]


def _top(snapshot: Snapshot, scores: list[np.ndarray | None], k: int) -> Ranking:
    found: Ranking = []
    for view, seg_scores in zip(snapshot.views, scores, strict=True):
        if seg_scores is None:
            continue
        if view.live is not None:
            seg_scores[~view.live] = 0.0
        n = min(k, len(seg_scores))
        top = np.argpartition(-seg_scores, n - 1)[:n] if n < len(seg_scores) else np.arange(len(seg_scores))
        top = top[seg_scores[top] > 0]
        found.extend(zip((top + view.offset).tolist(), seg_scores[top].tolist(), strict=True))
    found.sort(key=lambda x: (-x[1], x[0]))
    return found[:k]


def _bm25(snapshot: Snapshot, query: dict[str, float], k: int) -> Ranking:
    segments = [v.segment.sparse for v in snapshot.views]
    return _top(snapshot, bm25_scores(segments, query, snapshot.n_rows, snapshot.avgdl), k)


def _feedback_query(
    snapshot: Snapshot, query: dict[str, float], first: Ranking, params: RetrievalParams
) -> dict[str, float]:
    """RM3: the query, interpolated with the terms of the first-pass top chunks
    (each chunk's term distribution weighted by its share of their BM25 scores)."""
    top = first[: params.prf_docs]
    total = sum(s for _, s in top) or 1.0
    model: dict[str, float] = {}
    for row, s in top:
        terms = tokenize(snapshot.text(row))
        for term, count in Counter(terms).items():
            model[term] = model.get(term, 0.0) + (s / total) * count / max(1, len(terms))
    if params.prf_idf:  # prefer discriminative terms (and their short posting lists)
        terms = list(model)
        dfs = doc_freqs([v.segment.sparse for v in snapshot.views], terms)
        for term, weight in zip(terms, idf(max(1, snapshot.n_rows), dfs).tolist(), strict=True):
            model[term] *= weight
    kept = dict(sorted(model.items(), key=lambda x: -x[1])[: params.prf_terms])
    norm_q, norm_f = sum(query.values()) or 1.0, sum(kept.values()) or 1.0
    out = {t: (1 - params.prf_weight) * w / norm_q for t, w in query.items()}
    for term, w in kept.items():
        out[term] = out.get(term, 0.0) + params.prf_weight * w / norm_f
    return out


def sparse_rankings(snapshot: Snapshot, query: str, k: int, params: RetrievalParams | None = None) -> list[Ranking]:
    """BM25's first pass, then (with feedback on and a first pass found) the RM3 pass."""
    terms = {t: float(c) for t, c in Counter(tokenize(query)).items()}
    if not terms or not snapshot.views:
        return [[]]
    first = _bm25(snapshot, terms, k)
    if params is None or params.prf_docs <= 0 or not first:
        return [first]
    return [first, _bm25(snapshot, _feedback_query(snapshot, terms, first, params), k)]


def sparse_ranking(snapshot: Snapshot, query: str, k: int, params: RetrievalParams | None = None) -> Ranking:
    """The BM25 ranking (after feedback, when that is on)."""
    return sparse_rankings(snapshot, query, k, params)[-1]


def _vectors(snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
    """The stored vectors of `rows`, gathered per segment (one fancy index per segment)."""
    out = np.empty((len(rows), snapshot.dim or 0), dtype=np.float32)
    offsets = np.asarray([v.offset for v in snapshot.views])
    which = np.searchsorted(offsets, rows, side="right") - 1
    for s in np.unique(which):
        view = snapshot.views[int(s)]
        mask = which == s
        out[mask] = view.segment.vectors[rows[mask] - view.offset]
    return out


def _similarities(snapshot: Snapshot, rows: np.ndarray, qvecs: np.ndarray) -> np.ndarray:
    """Best cosine between each row's vector and the query vectors."""
    return (_vectors(snapshot, rows) @ qvecs.T).max(axis=1)  # type: ignore[no-any-return]


def dense_feedback(
    snapshot: Snapshot,
    rankings: list[Ranking],
    weights: list[float],
    dense_at: list[int],
    qvecs: np.ndarray,
    params: RetrievalParams,
) -> list[Ranking]:
    """Rocchio feedback for the dense side, without a second vector search: the first-pass
    ranking's top `dense_prf_docs` documents (their best chunks, in fused order) are
    averaged, added to each query vector with weight `dense_prf_weight`, and the dense
    lists are re-scored over every candidate any list found (dense and BM25 alike), so a
    BM25-only hit that looks like the top documents gains a dense rank. Cost: one
    (candidates x dim) product, no FAISS call."""
    leads: list[int] = []
    seen: set[str] = set()
    for row, _ in fuse_rankings(snapshot, rankings, weights, params):
        doc = snapshot.doc_of(row)
        if doc not in seen:
            seen.add(doc)
            leads.append(row)
            if len(leads) == params.dense_prf_docs:
                break
    if not leads:
        return rankings
    centroid = _vectors(snapshot, np.asarray(leads, dtype=np.int64)).mean(axis=0)
    return rescore_dense(snapshot, rankings, dense_at, qvecs + params.dense_prf_weight * centroid, params.candidates)


def rescore_dense(
    snapshot: Snapshot, rankings: list[Ranking], dense_at: list[int], qvecs: np.ndarray, k: int
) -> list[Ranking]:
    """The dense lists (at `dense_at`, one per query vector) re-scored over every candidate
    any list found, BM25 hits included: the cosine to the (normalised) query vector, no
    FAISS call."""
    cand = np.asarray(sorted({row for ranking in rankings for row, _ in ranking}), dtype=np.int64)
    vectors = _vectors(snapshot, cand)
    out = list(rankings)
    for i, query in zip(dense_at, qvecs, strict=True):
        scores = vectors @ (query / (np.linalg.norm(query) or 1.0))
        order = np.argsort(-scores, kind="stable")[:k]
        out[i] = [(int(cand[j]), float(scores[j])) for j in order]
    return out


def combine(
    snapshot: Snapshot,
    dense: Sequence[Ranking | None],
    sparse: Sequence[list[Ranking] | None],
    qvecs: np.ndarray,
    params: RetrievalParams,
) -> Ranking:
    """One ranking from each query's dense list and BM25 passes (None: that retriever is
    off): the lists and their weights, dense feedback, then fusion."""
    rankings: list[Ranking] = []
    weights: list[float] = []
    dense_at: list[int] = []  # which rankings are dense (one per query)
    for first_dense, passes in zip(dense, sparse, strict=True):
        if first_dense is not None:
            if params.dense_prf_docs > 0 and params.dense_original_weight > 0:  # kept beside its feedback
                rankings.append(first_dense)
                weights.append(params.dense_original_weight)
            dense_at.append(len(rankings))
            rankings.append(first_dense)
            weights.append(params.dense_weight)
        if passes is not None:
            if len(passes) == 2 and params.sparse_original_weight > 0:
                rankings.append(passes[0])
                weights.append(params.sparse_original_weight)
            rankings.append(passes[-1])
            weights.append(params.sparse_weight)
    if params.dense_prf_docs > 0 and dense_at:
        rankings = dense_feedback(snapshot, rankings, weights, dense_at, qvecs, params)
    elif params.fusion == "score" and dense_at and len(rankings) > 1:  # a cosine for every candidate
        rankings = rescore_dense(snapshot, rankings, dense_at, qvecs, params.candidates)
    return fuse_rankings(snapshot, rankings, weights, params)


def rank(snapshot: Snapshot, queries: list[str], qvecs: np.ndarray, params: RetrievalParams) -> list[Hit]:
    """Candidates for the queries, best first, before reranking and the top-k cut."""
    use_dense, use_sparse = params.mode in ("hybrid", "dense"), params.mode in ("hybrid", "sparse")
    scored = combine(
        snapshot,
        [dense_ranking(snapshot, qvec, params.candidates) if use_dense else None for qvec in qvecs],
        [sparse_rankings(snapshot, query, params.candidates, params) if use_sparse else None for query in queries],
        qvecs,
        params,
    )
    if not scored:
        return []
    rows = np.fromiter((r for r, _ in scored), dtype=np.int64, count=len(scored))
    sims = _similarities(snapshot, rows, qvecs)
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

    pairs = [(query, snapshot.text(h.row)) for h in head]
    logits = model.predict(pairs, show_progress_bar=False, activation_fn=torch.nn.Identity())
    for hit, logit in zip(head, np.asarray(logits, dtype=np.float64).reshape(-1), strict=True):
        hit.score = 1.0 / (1.0 + math.exp(-float(logit)))
    head.sort(key=lambda h: -h.score)
    for hit in tail:
        hit.score = 0.0
    return head + tail
