"""Dense pseudo-relevance feedback (Rocchio on the query vector, candidates re-scored)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from pytest import approx

from tests.conftest import make_settings
from tests.rag.conftest import ServerFactory
from tools_service.rag import store
from tools_service.rag.retrieve import RetrievalParams, dense_feedback

AXES = {"alpha": 0, "beta": 1, "gamma": 2, "delta": 3}


class AxisEmbeddings(Embeddings):
    """Stands in for the embedding model: each of four words is one axis, a text is the
    normalised sum of its words' axes, so every cosine in these tests is known exactly."""

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(len(AXES), dtype=np.float32)
        for word in re.findall(r"[a-z]+", text.lower()):
            if word in AXES:
                vec[AXES[word]] += 1.0
        if not vec.any():
            vec[3] = 1.0
        return (vec / np.linalg.norm(vec)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


# The query is "alpha". Three documents are about alpha and beta; "related" is about beta
# alone (cosine 0 to the query, but close to the top documents); "aside" mentions alpha
# among much gamma (cosine 0.32 to the query, unlike the top documents).
DOCS = {
    "top1.txt": b"alpha beta first",
    "top2.txt": b"alpha beta second",
    "top3.txt": b"alpha beta third",
    "related.txt": b"beta only here",
    "aside.txt": b"alpha gamma gamma gamma",
}


def _dense_order(rag_server: ServerFactory, data_dir: Path, feedback_docs: int) -> list[dict]:
    s = make_settings(data_dir, rag_dense_prf_docs=feedback_docs, rag_dense_prf_weight=1.0)
    with rag_server(settings_=s, embeddings=AxisEmbeddings()) as server:
        alice = server.client()
        assert alice.create("kb").status_code == 201
        assert alice.upload("kb", DOCS).status_code == 200
        return alice.results("kb", "alpha", top_k=5, mode="dense")


def test_dense_feedback_ranks_what_resembles_the_top_documents_higher(
    rag_server: ServerFactory, tmp_path: Path
) -> None:
    plain = _dense_order(rag_server, tmp_path / "off", 0)
    fed = _dense_order(rag_server, tmp_path / "on", 3)
    names = lambda results: [r["filename"] for r in results]  # noqa: E731
    assert set(names(plain)[:3]) == set(names(fed)[:3]) == {"top1.txt", "top2.txt", "top3.txt"}
    assert names(plain)[3:] == ["aside.txt", "related.txt"]  # by cosine to "alpha": 0.32 > 0
    # with feedback the query vector moves towards alpha+beta: related (beta) passes aside
    assert names(fed)[3:] == ["related.txt", "aside.txt"]
    by_name = {r["filename"]: r for r in fed}
    # `score` is the cosine to the expanded query: (1 + 1/sqrt2, 1/sqrt2) normalised
    q = np.array([1 + 2**-0.5, 2**-0.5]) / np.linalg.norm([1 + 2**-0.5, 2**-0.5])
    assert by_name["related.txt"]["score"] == approx(q[1], abs=1e-4)
    # `similarity` (what RAG_MIN_SCORE_THRESHOLD filters on) stays the cosine to the query itself
    assert by_name["related.txt"]["similarity"] == approx(0.0, abs=1e-5)
    assert by_name["aside.txt"]["similarity"] == approx(10**-0.5, abs=1e-4)


def test_dense_feedback_rescores_bm25_only_candidates(tmp_path: Path) -> None:
    """A chunk only BM25 found gets a dense score, and the dense list stays sorted."""
    path = tmp_path / "c"
    store.init_collection(path, "Flat", "test")
    snap = store.load(path)
    emb = AxisEmbeddings()
    texts = {"a": "alpha beta", "b": "alpha beta", "c": "beta", "d": "gamma"}
    new = [
        store.NewDocument(d, f"{d}.txt", 1, [t], np.asarray(emb.embed_documents([t]), dtype=np.float32))
        for d, t in texts.items()
    ]
    tmp, seg = store.new_segment(path, new, "Flat")
    snap = store.commit_add(path, snap, new, tmp, seg)
    row = {snap.doc_of(r): r for r in range(snap.n_rows)}
    dense = [(row["a"], 0.7), (row["b"], 0.7), (row["d"], 0.0)]  # "c" was not among the dense hits
    sparse = [(row["c"], 3.0), (row["a"], 2.0)]
    qvec = np.asarray([emb.embed_query("alpha")], dtype=np.float32)
    params = RetrievalParams(candidates=10, rrf_k=10, dense_prf_docs=2, dense_prf_weight=1.0)
    fed_dense, fed_sparse = dense_feedback(snap, [dense, sparse], [1.0, 1.0], [0], qvec, params)
    assert fed_sparse == sparse  # the BM25 list is not touched
    order = [snap.doc_of(r) for r, _ in fed_dense]
    assert order[:2] in (["a", "b"], ["b", "a"]) and order[2:] == ["c", "d"]
    scores = dict((snap.doc_of(r), s) for r, s in fed_dense)
    # first pass (document-level RRF): a, then c; the query moves to (alpha + (alpha+beta)/2 + beta/2)
    query = np.array([1 + 0.5 * 2**-0.5, 0.5 * 2**-0.5 + 0.5])
    assert scores["c"] == approx(query[1] / np.linalg.norm(query), abs=1e-4)
    assert scores["d"] == approx(0.0, abs=1e-6)
