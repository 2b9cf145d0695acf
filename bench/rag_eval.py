"""Retrieval quality of the RAG tool on a BEIR-layout collection, through its HTTP API.

Starts a tools app (uvicorn subprocess, its own temporary DATA_DIR), uploads the corpus
(one .txt file per document), runs every query in BM25-only, dense-only and hybrid mode
(and reranked, when RAG_RERANKER_MODEL is set), and prints nDCG@10 and Recall@100 at
document level (a document ranks where its best chunk ranks).

    .venv/bin/python bench/rag_eval.py                      # ../shared/datasets/cranfield
    .venv/bin/python bench/rag_eval.py --tune               # also grid-search RRF k / weights
    RAG_CHUNKING_STRATEGY=sentence .venv/bin/python bench/rag_eval.py   # any RAG_* setting

`--tune` fuses the dense and BM25 rankings offline with the engine's own `rrf_fuse`,
so the grid costs no extra queries; the chosen values become the settings defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_DATASET = next(  # ../shared in a checkout, ../../shared in a worktree
    (p / "shared" / "datasets" / "cranfield" for p in REPO.parents if (p / "shared" / "datasets").is_dir()),
    REPO.parent / "shared" / "datasets" / "cranfield",
)
API = "/api/tools/rag"


@contextmanager
def tools_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    procs: list[subprocess.Popen[bytes]] | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """A tools app in a subprocess; yields its URL and service-key headers for one user
    (the process is appended to `procs`, for callers that read its memory)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = secrets.token_urlsafe(32)
    full_env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "TOOLS_API_KEY": key,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    cmd = command or [sys.executable, "-m", "uvicorn", "tools_service.main:create_app", "--factory"]
    cmd = [*cmd, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env)
    if procs is not None:
        procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("tools app did not start")
            time.sleep(0.2)
        yield url, {"X-API-Key": key, "X-User-Id": "bench"}
    finally:
        proc.terminate()
        proc.wait(30)


def load_beir(folder: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    corpus = {}
    for line in (folder / "corpus.jsonl").read_text().splitlines():
        doc = json.loads(line)
        # BEIR's convention (title, then text), as in the reference BM25 figure; cranfield's
        # text repeats its title, so titles weigh double there, as they do in that figure.
        corpus[doc["_id"]] = f"{doc.get('title', '').strip()}\n{doc.get('text', '').strip()}".strip()
    queries = {q["_id"]: q["text"] for q in map(json.loads, (folder / "queries.jsonl").read_text().splitlines())}
    qrels: dict[str, dict[str, int]] = {}
    for row in (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = row.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, {})[did] = int(score)
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sum(r / math.log2(i + 2) for i, r in enumerate(sorted(rels.values(), reverse=True)[:k]))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(rels)) / len(rels)


def doc_ranking(chunk_docs: list[str], k: int = 100) -> list[str]:
    seen: dict[str, None] = {}
    for doc in chunk_docs:
        seen.setdefault(doc, None)
    return list(seen)[:k]


def index_corpus(client: httpx.Client, corpus: dict[str, str], batch: int) -> float:
    """Upload the corpus into collection `eval` (0 s when a kept DATA_DIR already holds it)."""
    names = {c["name"] for c in client.get(f"{API}/collections").json()["data"]["collections"]}
    if "eval" in names:
        print("reusing the collection indexed in --data-dir")
        return 0.0
    assert client.post(f"{API}/collections", json={"name": "eval"}).status_code == 201
    items = [(f"{doc_id}.txt", text.encode()) for doc_id, text in corpus.items() if text]
    start = time.perf_counter()
    chunks = 0
    for i in range(0, len(items), batch):
        files = [("files", item) for item in items[i : i + batch]]
        resp = client.post(f"{API}/upload", data={"collection": "eval"}, files=files)
        resp.raise_for_status()
        chunks += resp.json()["metadata"]["chunks"]
    elapsed = time.perf_counter() - start
    print(f"indexed {len(items)} documents, {chunks} chunks in {elapsed:.1f} s ({chunks / elapsed:.1f} chunks/s)")
    return elapsed


def run_queries(client: httpx.Client, queries: dict[str, str], depth: int, **extra: Any) -> dict[str, list[dict]]:
    out = {}
    for qid, text in queries.items():
        resp = client.post(f"{API}/query", json={"collection": "eval", "query": text, "top_k": depth, **extra})
        resp.raise_for_status()
        out[qid] = resp.json()["data"]["results"]
    return out


def score(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> tuple[float, float]:
    n = len(runs)
    return (
        sum(ndcg_at(r, qrels[q]) for q, r in runs.items()) / n,
        sum(recall_at(r, qrels[q]) for q, r in runs.items()) / n,
    )


def split(queries: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Dev (tuning) and test halves: odd query ids tune, even ids are held out."""
    dev = {q: t for q, t in queries.items() if int(q) % 2 == 1} if all(q.isdigit() for q in queries) else {}
    if not dev:
        ordered = sorted(queries)
        dev = {q: queries[q] for q in ordered[::2]}
    return dev, {q: t for q, t in queries.items() if q not in dev}


def tune(
    data_dir: Path, dev: dict[str, str], test: dict[str, str], qrels: dict[str, dict[str, int]], depth: int
) -> None:
    """Grid over fusion and feedback settings, in-process on the indexed collection with
    the engine's own ranking code (`dense_feedback`, then the fusion `rank` uses),
    choosing on `dev` only; `test` is reported once, for the chosen setting."""
    from dataclasses import replace

    from settings import Settings
    from tools_service.rag import store
    from tools_service.rag.models import RagModels
    from tools_service.rag.retrieve import RetrievalParams, dense_feedback, dense_ranking, fuse_rankings, sparse_ranking

    s = Settings()
    snap = store.load(data_dir / "rag" / "bench" / "eval")
    models = RagModels(s)
    everything = {**dev, **test}
    qvecs = dict(zip(everything, models.embed(list(everything.values()), queries=True), strict=True))
    base = RetrievalParams(candidates=2 * depth, prf_terms=s.rag_prf_terms, prf_weight=s.rag_prf_weight)
    dense = {q: dense_ranking(snap, qvecs[q], base.candidates) for q in everything}
    # kept small: on 2 shared cores each sparse configuration costs a minute or more
    sparse = {
        docs: {
            q: sparse_ranking(snap, text, base.candidates, replace(base, prf_docs=docs))
            for q, text in everything.items()
        }
        for docs in (0, 10)
    }

    def run(q: str, params: RetrievalParams) -> list[str]:
        lists, weights = [dense[q], sparse[params.prf_docs][q]], [params.dense_weight, 1.0]
        if params.dense_prf_docs:
            lists = dense_feedback(snap, lists, weights, [0], qvecs[q].reshape(1, -1), params)
        return doc_ranking(
            [
                Path(snap.documents[snap.doc_of(r)]["filename"]).stem
                for r, _ in fuse_rankings(snap, lists, weights, params)
            ]
        )

    def ndcg(params: RetrievalParams, qs: dict[str, str]) -> float:
        return sum(ndcg_at(run(q, params), qrels[q]) for q in qs) / len(qs)

    grid = [
        replace(base, prf_docs=prf, rrf_k=k, dense_weight=dw, dense_prf_docs=m, dense_prf_weight=beta)
        for prf in (0, 10)
        for k in (60, 100)
        for dw in (1.0, 1.5, 2.0)
        for m, beta in [(0, 0.0), *((m, b) for m in (3, 5, 10) for b in (0.5, 1.0, 2.0))]
    ]
    rows = sorted(((ndcg(p, dev), p) for p in grid), key=lambda r: -r[0])
    print("\nTuning on the dev half, best first (BM25 feedback docs, RRF k, dense weight, dense feedback):")
    print(f"  {'prf':>4} {'k':>4} {'dense_w':>7} {'dprf docs':>9} {'dprf w':>6} {'dev nDCG@10':>11}")
    for score_, p in rows[:12]:
        dprf = f"{p.dense_prf_docs:>9} {p.dense_prf_weight:>6}"
        print(f"  {p.prf_docs:>4} {p.rrf_k:>4} {p.dense_weight:>7} {dprf} {score_:>11.4f}")
    best = rows[0][1]
    no_dprf = next(p for _, p in rows if not p.dense_prf_docs)
    bm25 = {
        q: doc_ranking([Path(snap.documents[snap.doc_of(r)]["filename"]).stem for r, _ in sparse[0][q]]) for q in test
    }
    print(f"best on dev: {best}")
    print(
        f"held-out test half: BM25 {sum(ndcg_at(bm25[q], qrels[q]) for q in test) / len(test):.4f}, "
        f"best without dense feedback {ndcg(no_dprf, test):.4f}, tuned hybrid {ndcg(best, test):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--depth", type=int, default=300, help="chunks fetched per query (>= 100 documents)")
    parser.add_argument("--batch", type=int, default=100, help="files per upload request")
    parser.add_argument("--tune", action="store_true", help="grid-search fusion and feedback on the dev half")
    parser.add_argument("--tune-only", action="store_true", help="index (or reuse --data-dir), then only --tune")
    parser.add_argument("--data-dir", type=Path, help="keep the index here and reuse it on the next run")
    args = parser.parse_args()

    if str(args.dataset) == "manpages":  # bench/heldout.py: the first held-out collection, now tuned on
        from heldout import build_manpages

        args.dataset = build_manpages()
    elif str(args.dataset) == "debian":  # bench/heldout_debian.py: the held-out collection, never tuned on
        from heldout_debian import build_debian

        args.dataset = build_debian()
    corpus, queries, qrels = load_beir(args.dataset)
    dev, test = split(queries)
    print(
        f"{args.dataset.name}: {len(corpus)} documents, {len(queries)} judged queries "
        f"({len(dev)} dev, {len(test)} test)"
    )
    with (
        tempfile.TemporaryDirectory() as scratch,
        tools_server(Path(tmp := str(args.data_dir or scratch))) as (url, headers),
        httpx.Client(base_url=url, headers=headers, timeout=3600) as client,
    ):
        status = next(t["status"] for t in client.get("/api/tools/list").json()["tools"] if t["name"] == "rag_query")
        print(f"embedding {status['embedding_model']}; reranking: {status['reranking']}")
        elapsed = index_corpus(client, corpus, args.batch)
        if elapsed:
            print(f"ingestion: {len(corpus) / elapsed:.1f} documents/s through the HTTP API")
        if args.tune_only:
            tune(Path(tmp), dev, test, qrels, args.depth)
            return
        modes = [
            ("BM25 (no feedback)", {"mode": "sparse", "rerank": False}, {"RAG_PRF_DOCS": "0"}),
            ("BM25 + RM3", {"mode": "sparse", "rerank": False}, {}),
            ("dense (no feedback)", {"mode": "dense", "rerank": False}, {"RAG_DENSE_PRF_DOCS": "0"}),
            ("dense + feedback", {"mode": "dense", "rerank": False}, {}),
            ("hybrid, no dense fb", {"mode": "hybrid", "rerank": False}, {"RAG_DENSE_PRF_DOCS": "0"}),
            ("hybrid (default)", {"mode": "hybrid", "rerank": False}, {}),
        ]
        if status["reranking"]["enabled"]:
            modes.append(("hybrid + rerank", {"mode": "hybrid", "rerank": True}, {}))
        table = []
        for label, extra, env in modes:
            if env:  # a setting of the server: a second server on the same DATA_DIR
                with (
                    tools_server(Path(tmp), env) as (url2, headers2),
                    httpx.Client(base_url=url2, headers=headers2, timeout=3600) as other,
                ):
                    results, ms = timed_queries(other, queries, args.depth, **extra)
            else:
                results, ms = timed_queries(client, queries, args.depth, **extra)
            runs = {q: doc_ranking([Path(r["filename"]).stem for r in res]) for q, res in results.items()}
            table.append(
                (
                    label,
                    score(runs, qrels)[0],
                    score({q: runs[q] for q in dev}, qrels)[0],
                    score({q: runs[q] for q in test}, qrels)[0],
                    score(runs, qrels)[1],
                    ms,
                )
            )
        print(f"\n{'mode':<20} {'nDCG@10':>8} {'dev':>7} {'test':>7} {'Recall@100':>11} {'ms/query':>9}")
        for label, ndcg, ndcg_dev, ndcg_test, rec, ms in table:
            print(f"{label:<20} {ndcg:>8.4f} {ndcg_dev:>7.4f} {ndcg_test:>7.4f} {rec:>11.4f} {ms:>9.1f}")
        if args.tune:
            tune(Path(tmp), dev, test, qrels, args.depth)


def timed_queries(
    client: httpx.Client, queries: dict[str, str], depth: int, **extra: Any
) -> tuple[dict[str, list[dict]], float]:
    start = time.perf_counter()
    results = run_queries(client, queries, depth, **extra)
    return results, (time.perf_counter() - start) / len(queries) * 1000


if __name__ == "__main__":
    main()
