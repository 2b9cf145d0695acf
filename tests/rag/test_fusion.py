"""Document-level fusion and BM25 feedback, on a real two-segment snapshot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from pytest import approx

from tests.rag.helpers import HashEmbeddings
from tools_service.rag import store
from tools_service.rag.fusion import chunk_fuse, doc_fuse
from tools_service.rag.retrieve import (
    RetrievalParams,
    combine,
    dense_feedback,
    dense_ranking,
    rescore_dense,
    sparse_ranking,
    sparse_rankings,
)


def _snapshot(path: Path, docs: dict[str, list[str]]) -> store.Snapshot:
    """Each document in its own upload, so the snapshot spans several segments."""
    store.init_collection(path, "Flat", "test")
    snap = store.load(path)
    emb = HashEmbeddings(dim=64)
    for doc_id, texts in docs.items():
        vectors = np.asarray(emb.embed_documents(texts), dtype=np.float32)
        new = [store.NewDocument(doc_id, f"{doc_id}.txt", 1, texts, vectors)]
        tmp, seg = store.new_segment(path, new, "Flat")
        snap = store.commit_add(path, snap, new, tmp, seg)
    return snap


def test_doc_fusion_ranks_documents_by_their_best_chunks(tmp_path: Path) -> None:
    snap = _snapshot(
        tmp_path / "c", {"a": [f"a chunk {i}" for i in range(5)], "b": ["b only"], "c": ["c one", "c two"]}
    )
    rows = {snap.chunk_id(r): r for r in range(snap.n_rows)}
    # list 1: a's five chunks, then b, then c; list 2: b first, then c, then a's weakest chunk
    one = [(rows[f"a:{i}"], 0.0) for i in range(5)] + [(rows["b:0"], 0.0), (rows["c:0"], 0.0)]
    two = [(rows["b:0"], 0.0), (rows["c:1"], 0.0), (rows["a:4"], 0.0)]
    fused = doc_fuse(snap, [one, two], [1.0, 1.0], RetrievalParams(rrf_k=10))
    order = [snap.doc_of(r) for r, _ in fused]
    first_seen = list(dict.fromkeys(order))
    # document level: b is 2nd and 1st, a is 1st and 3rd, c is 3rd and 2nd
    assert first_seen == ["b", "a", "c"]
    norm = 2 / 11
    lead = {snap.doc_of(r): s for r, s in reversed(fused)}  # each document's first (best) entry
    assert lead["b"] == approx((1 / 12 + 1 / 11) / norm)  # the document's ranks, not its chunks'
    assert lead["a"] == approx((1 / 11 + 1 / 13) / norm)
    assert lead["c"] == approx((1 / 13 + 1 / 12) / norm)
    chunk = dict(chunk_fuse([one, two], [1.0, 1.0], RetrievalParams(rrf_k=10)))
    assert all(s == approx(chunk[r]) for r, s in fused if s not in lead.values())  # the others: chunk-level
    assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)
    assert all(0 < s <= 1 for _, s in fused)
    a_chunks = [snap.chunk_id(r) for r, _ in fused if snap.doc_of(r) == "a"]
    assert a_chunks[0] == "a:4" and len(a_chunks) == 5  # a's best chunk leads, the rest follow


def test_feedback_pulls_in_documents_without_the_query_words(tmp_path: Path) -> None:
    docs = {
        "q1": ["turbine blade cooling airflow"],
        "q2": ["turbine blade cooling airflow channels"],
        "q3": ["turbine blade cooling airflow film"],
        "syn": ["airflow channels film cooling vanes"],  # no "turbine" / "blade"
        "noise": ["sourdough bread yeast flour"],
    }
    snap = _snapshot(tmp_path / "c", docs)
    plain = sparse_ranking(snap, "turbine blade", 10, RetrievalParams(prf_docs=0))
    expanded = sparse_ranking(snap, "turbine blade", 10, RetrievalParams(prf_docs=3, prf_terms=5, prf_weight=0.5))
    assert "syn" not in {snap.doc_of(r) for r, _ in plain}
    found = [snap.doc_of(r) for r, _ in expanded]
    assert "syn" in found and "noise" not in found and set(found[:3]) == {"q1", "q2", "q3"}


def test_first_passes_fused_beside_their_feedback(tmp_path: Path) -> None:
    """With the original weights set, `combine` fuses each retriever's first pass next to
    its fed-back list (weights as set); at 0 the fed-back list replaces the first pass."""
    docs = {
        "q1": ["turbine blade cooling airflow"],
        "q2": ["turbine blade cooling airflow channels"],
        "q3": ["turbine blade cooling airflow film"],
        "syn": ["airflow channels film cooling vanes"],
        "noise": ["sourdough bread yeast flour"],
    }
    snap = _snapshot(tmp_path / "c", docs)
    qvec = np.asarray(HashEmbeddings(dim=64).embed_documents(["turbine blade"]), dtype=np.float32)
    fb = RetrievalParams(mode="sparse", candidates=10, rrf_k=10, prf_docs=3, prf_terms=5, prf_weight=0.5)
    first, fed = sparse_rankings(snap, "turbine blade", 10, fb)
    assert first != fed  # feedback found "syn", which the first pass did not
    replaced = combine(snap, [None], [[first, fed]], qvec, fb)
    top = fed[0][1]
    assert replaced == [(r, s / top) for r, s in fed]  # one list: its own normalised BM25 scores
    both = combine(snap, [None], [[first, fed]], qvec, replace(fb, sparse_original_weight=0.5))
    assert both == doc_fuse(snap, [first, fed], [0.5, 1.0], fb)

    dense = dense_ranking(snap, qvec[0], 10)
    hybrid = replace(fb, mode="hybrid", dense_prf_docs=2, dense_weight=2.0, dense_original_weight=1.0)
    fused = combine(snap, [dense], [[first, fed]], qvec, hybrid)
    moved = dense_feedback(snap, [dense, dense, fed], [1.0, 2.0, 1.0], [1], qvec, hybrid)
    assert moved[0] == dense and moved[1] != dense  # the first dense pass kept, the second moved
    assert fused == doc_fuse(snap, moved, [1.0, 2.0, 1.0], hybrid)


def test_score_fusion_keeps_the_margins_that_rrf_drops() -> None:
    """RRF ties x and y (each is first in one list and second in the other); score fusion
    sees that x leads BM25 by a wide margin and trails the dense list by a hair."""
    bm25 = [(1, 10.0), (2, 1.0)]  # row 1 = x, row 2 = y
    dense = [(2, 0.90), (1, 0.85)]
    rrf = dict(chunk_fuse([bm25, dense], [1.0, 1.0], RetrievalParams(rrf_k=60)))
    assert rrf[1] == approx(rrf[2])
    score = dict(chunk_fuse([bm25, dense], [1.0, 2.0], RetrievalParams(fusion="score")))
    assert score[1] == approx((1.0 * 10.0 / 10.0 + 2.0 * 0.85 / 0.90) / 3.0)
    assert score[2] == approx((1.0 * 1.0 / 10.0 + 2.0 * 1.0) / 3.0)
    assert score[1] > score[2]
    clipped = dict(chunk_fuse([bm25, [(2, 0.5), (3, -0.2)]], [1.0, 1.0], RetrievalParams(fusion="score")))
    assert clipped[3] == 0.0 and all(0.0 <= s <= 1.0 for s in clipped.values())  # a negative cosine: no credit


def test_score_fusion_gives_bm25_only_hits_their_cosine(tmp_path: Path) -> None:
    """Score fusion re-scores the dense list over every candidate, so a BM25-only hit gets
    its dense credit (its cosine) instead of none; documents rank by the weighted sum of
    their best chunks' normalised scores."""
    docs = {f"d{i}": [f"filler words number {i} nothing else"] for i in range(6)}
    kw_text = "zyzzyva " + " ".join(f"word{i}" for i in range(20))  # long: a low cosine
    docs["kw"] = [kw_text]
    snap = _snapshot(tmp_path / "c", docs)
    emb = HashEmbeddings(dim=64)
    qvec = np.asarray(emb.embed_documents(["zyzzyva filler"]), dtype=np.float32)
    params = RetrievalParams(fusion="score", candidates=10, prf_docs=0, dense_prf_docs=0, dense_weight=2.0)
    dense = dense_ranking(snap, qvec[0], 3)
    passes = sparse_rankings(snap, "zyzzyva", 10, params)
    kw_row = next(r for r in range(snap.n_rows) if snap.doc_of(r) == "kw")
    assert [r for r, _ in passes[0]] == [kw_row] and kw_row not in {r for r, _ in dense}
    rescored = rescore_dense(snap, [dense, passes[0]], [0], qvec, params.candidates)
    cosine = float(np.dot(np.asarray(emb.embed_documents([kw_text])[0]), qvec[0]))
    assert dict(rescored[0])[kw_row] == approx(cosine, abs=1e-5)  # the BM25 hit now has its cosine
    fused = combine(snap, [dense], [passes], qvec, params)
    assert fused == doc_fuse(snap, rescored, [2.0, 1.0], params)
    top = rescored[0][0][1]
    assert dict(fused)[kw_row] == approx((2.0 * max(0.0, cosine) / top + 1.0) / 3.0, abs=1e-5)
    # under RRF (and no dense feedback) the dense list is used as FAISS returned it
    assert combine(snap, [dense], [passes], qvec, replace(params, fusion="rrf")) == doc_fuse(
        snap, [dense, passes[0]], [2.0, 1.0], replace(params, fusion="rrf")
    )


def test_every_ranking_setting_reaches_the_query() -> None:
    """settings_params maps each RAG_* ranking setting onto its RetrievalParams field (a
    setting that were dropped there would be silently ignored by every query)."""
    from settings import Settings
    from tools_service.rag.querying import settings_params

    values = {
        "fusion": "score",
        "rrf_k": 7,
        "dense_weight": 0.25,
        "sparse_weight": 0.75,
        "doc_fusion": False,
        "prf_docs": 4,
        "prf_terms": 6,
        "prf_weight": 0.125,
        "dense_prf_docs": 2,
        "dense_prf_weight": 0.375,
        "sparse_original_weight": 0.625,
        "dense_original_weight": 0.875,
    }
    defaults = RetrievalParams()
    assert all(getattr(defaults, field) != value for field, value in values.items())
    params = settings_params(Settings(**{f"rag_{field}": value for field, value in values.items()}), top_k=3)
    assert {field: getattr(params, field) for field in values} == values and params.top_k == 3
