"""Choosing the RAG fusion and feedback defaults: a grid over two tuning collections.

Tuning collections: cranfield (`../shared/datasets/cranfield`: topical queries with many
judged abstracts each) and the man pages (`bench/heldout.py`: known-item queries with one
relevant page each; it was the first held-out collection, and became a tuning one once its
results had been seen). The held-out collection, Debian's package descriptions
(`bench/heldout_debian.py`), is never loaded here.

Each collection is indexed through the tools app's HTTP API at the default settings, as
`bench/rag_eval.py` does (`--data-dir` keeps the indexes for the next run). The grid then
runs in-process on the stored snapshots with the engine's own `combine` (feedback and
fusion), from each query's dense list and BM25 passes, computed once. A setting's score
is the mean of the collections' dev-half nDCG@10 (odd query ids); the test halves (even
ids) are printed once, for the chosen setting and for the current defaults.

    .venv/bin/python bench/rag_tune.py [--data-dir DIR] [--candidates 200]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import httpx
from heldout import build_manpages
from rag_eval import DEFAULT_DATASET, doc_ranking, index_corpus, load_beir, ndcg_at, split, tools_server

from settings import Settings
from tools_service.rag import store
from tools_service.rag.models import RagModels
from tools_service.rag.querying import settings_params
from tools_service.rag.retrieve import RetrievalParams, combine, dense_ranking, sparse_rankings


class Collection:
    """One tuning collection's snapshot, and its queries' dense lists and BM25 passes."""

    def __init__(self, folder: Path, data_dir: Path, models: RagModels, base: RetrievalParams) -> None:
        corpus, queries, self.qrels = load_beir(folder)
        self.dev, self.test = split(queries)
        with (
            tools_server(data_dir) as (url, headers),
            httpx.Client(base_url=url, headers=headers, timeout=3600) as client,
        ):
            index_corpus(client, corpus, 100)
        self.snap = store.load(data_dir / "rag" / "bench" / "eval")
        self.qvecs = dict(zip(queries, models.embed(list(queries.values()), queries=True), strict=True))
        self.dense = {q: dense_ranking(self.snap, self.qvecs[q], base.candidates) for q in queries}
        self.sparse = {  # RM3 interpolation weight -> the first BM25 pass, and the RM3 pass after it
            w: {
                q: sparse_rankings(self.snap, text, base.candidates, replace(base, prf_docs=10, prf_weight=w))
                for q, text in queries.items()
            }
            for w in PRF_WEIGHTS
        }

    def ndcg(self, params: RetrievalParams, half: str) -> float:
        queries = self.dev if half == "dev" else self.test
        total = 0.0
        for q in queries:
            passes = self.sparse[params.prf_weight][q]
            passes = passes[:1] if params.prf_docs == 0 else passes
            dense = self.dense[q] if params.mode != "sparse" else None
            fused = combine(
                self.snap, [dense], [passes if params.mode != "dense" else None], self.qvecs[q][None], params
            )
            ranked = doc_ranking([Path(self.snap.documents[self.snap.doc_of(r)]["filename"]).stem for r, _ in fused])
            total += ndcg_at(ranked, self.qrels[q])
        return total / len(queries)


PRF_WEIGHTS = (0.7, 0.5, 0.3)


def grid(base: RetrievalParams) -> list[RetrievalParams]:
    """RRF k x dense weight x dense feedback, with BM25 feedback (RM3) off, or on with the
    first passes (sparse and dense) fused beside the fed-back lists at several weights;
    then RM3 with a lighter interpolation weight (0.5, 0.3) around the best of those; then
    score fusion: dense weight x RM3 x dense feedback."""
    feedback = [(0, 0.0), (5, 1.0), (3, 1.0), (5, 0.5)]
    out = [
        replace(base, prf_weight=0.7, rrf_k=k, dense_weight=dw, dense_prf_docs=m, dense_prf_weight=b)
        for k in (60, 100)
        for dw in (1.0, 1.5, 2.0)
        for m, b in feedback
    ]
    out += [
        replace(
            base,
            prf_docs=10,
            prf_weight=0.7,
            rrf_k=k,
            dense_weight=dw,
            dense_original_weight=dow,
            sparse_weight=sw,
            sparse_original_weight=sow,
            dense_prf_docs=m,
            dense_prf_weight=b,
        )
        for k in (60, 100)
        for dw in (1.0, 2.0)
        for dow in (0.0, 1.0)
        for sw in (0.5, 1.0)
        for sow in (0.0, 0.5, 1.0)
        for m, b in feedback
        if m or not dow
    ]
    out += [
        replace(
            base,
            prf_docs=10,
            prf_weight=w,
            rrf_k=k,
            dense_weight=dw,
            sparse_weight=sw,
            sparse_original_weight=sow,
            dense_prf_docs=m,
            dense_prf_weight=1.0,
        )
        for w in (0.3, 0.5)
        for k in (60, 100)
        for dw in (1.5, 2.0)
        for sw, sow in ((1.0, 0.0), (1.0, 0.5), (0.5, 1.0), (1.0, 1.0))
        for m in (5, 3)
    ]
    out += [  # score fusion (a convex combination of normalised scores) instead of RRF
        replace(
            base,
            fusion="score",
            prf_docs=prf,
            prf_weight=w,
            dense_weight=dw,
            sparse_weight=sw,
            sparse_original_weight=sow,
            dense_prf_docs=m,
            dense_prf_weight=b,
        )
        for dw in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0)
        for prf, w, sw, sow in ((0, 0.7, 1.0, 0.0), (10, 0.3, 1.0, 0.0), (10, 0.3, 0.5, 1.0), (10, 0.5, 0.5, 1.0))
        for m, b in ((0, 1.0), (3, 1.0), (5, 0.5), (5, 1.0))
    ]
    return out


def describe(p: RetrievalParams) -> str:
    fusion = f"rrf k {p.rrf_k:>3.0f}" if p.fusion == "rrf" else "score    "
    return (
        f"{fusion} rm3 {p.prf_docs:>2} (w {p.prf_weight}) "
        f"dense w {p.dense_weight} (first pass {p.dense_original_weight}) "
        f"bm25 w {p.sparse_weight} (first pass {p.sparse_original_weight}) "
        f"dense fb {p.dense_prf_docs}/{p.dense_prf_weight}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="keep the indexes here (one folder per collection)")
    parser.add_argument("--candidates", type=int, default=200, help="list depth per retriever")
    args = parser.parse_args()
    s = Settings()
    base = RetrievalParams(candidates=args.candidates, prf_terms=s.rag_prf_terms)
    models = RagModels(s)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_dir or Path(scratch)
        cols = {
            name: Collection(folder, root / name, models, base)
            for name, folder in (("cranfield", DEFAULT_DATASET), ("manpages", build_manpages()))
        }
    rows = []
    for params in grid(base):
        dev = {name: col.ndcg(params, "dev") for name, col in cols.items()}
        rows.append((sum(dev.values()) / len(dev), dev, params))
    rows.sort(key=lambda r: -r[0])
    print("Best first, by the mean of the dev halves' nDCG@10:")
    for mean, dev, params in rows[:15]:
        print(f"  {mean:.4f}  " + "  ".join(f"{n} {v:.4f}" for n, v in dev.items()) + f"  | {describe(params)}")
    current = settings_params(s, candidates=args.candidates)
    bm25 = replace(base, mode="sparse")
    print("\nTest halves (never used to choose):")
    for label, params in (("best on dev", rows[0][2]), ("current defaults", current), ("BM25 alone", bm25)):
        print(f"  {label:<17} " + "  ".join(f"{n} {c.ndcg(params, 'test'):.4f}" for n, c in cols.items()))
    print(f"best on dev: {describe(rows[0][2])}")


if __name__ == "__main__":
    main()
