"""Document-level fusion and BM25 feedback, on a real two-segment snapshot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from pytest import approx

from tests.rag.helpers import HashEmbeddings
from tools_service.rag import store
from tools_service.rag.fusion import doc_fuse, rrf_fuse
from tools_service.rag.retrieve import (
    RetrievalParams,
    combine,
    dense_feedback,
    dense_ranking,
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
    fused = doc_fuse(snap, [one, two], [1.0, 1.0], 10)
    order = [snap.doc_of(r) for r, _ in fused]
    first_seen = list(dict.fromkeys(order))
    # document level: b is 2nd and 1st, a is 1st and 3rd, c is 3rd and 2nd
    assert first_seen == ["b", "a", "c"]
    norm = 2 / 11
    lead = {snap.doc_of(r): s for r, s in reversed(fused)}  # each document's first (best) entry
    assert lead["b"] == approx((1 / 12 + 1 / 11) / norm)  # the document's ranks, not its chunks'
    assert lead["a"] == approx((1 / 11 + 1 / 13) / norm)
    assert lead["c"] == approx((1 / 13 + 1 / 12) / norm)
    chunk = dict(rrf_fuse([one, two], [1.0, 1.0], 10))
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
    assert both == doc_fuse(snap, [first, fed], [0.5, 1.0], 10)

    dense = dense_ranking(snap, qvec[0], 10)
    hybrid = replace(fb, mode="hybrid", dense_prf_docs=2, dense_weight=2.0, dense_original_weight=1.0)
    fused = combine(snap, [dense], [[first, fed]], qvec, hybrid)
    moved = dense_feedback(snap, [dense, dense, fed], [1.0, 2.0, 1.0], [1], qvec, hybrid)
    assert moved[0] == dense and moved[1] != dense  # the first dense pass kept, the second moved
    assert fused == doc_fuse(snap, moved, [1.0, 2.0, 1.0], 10)
