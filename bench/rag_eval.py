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
    data_dir: Path, env: dict[str, str] | None = None, command: list[str] | None = None
) -> Iterator[tuple[str, dict[str, str]]]:
    """A tools app in a subprocess; yields its URL and service-key headers for one user."""
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


def tune(dense: dict[str, list[dict]], sparse: dict[str, list[dict]], qrels: dict[str, dict[str, int]]) -> None:
    from tools_service.rag.retrieve import rrf_fuse

    rows: dict[str, int] = {}
    doc_of: dict[int, str] = {}
    for runs in (dense, sparse):
        for results in runs.values():
            for r in results:
                row = rows.setdefault(r["chunk_id"], len(rows))
                doc_of[row] = Path(r["filename"]).stem
    grid = []
    for k in (1, 5, 10, 20, 40, 60, 100):
        for dw in (0.5, 0.75, 1.0, 1.5, 2.0):
            fused_runs: dict[str, list[str]] = {}
            for q in dense:
                fused = rrf_fuse(
                    [[(rows[r["chunk_id"]], 0.0) for r in dense[q]], [(rows[r["chunk_id"]], 0.0) for r in sparse[q]]],
                    [dw, 1.0],
                    k,
                )
                fused_runs[q] = doc_ranking([doc_of[row] for row, _ in fused])
            grid.append((*score(fused_runs, qrels), k, dw))
    grid.sort(reverse=True)
    print("\nRRF grid (sparse weight 1.0), best first:\n  nDCG@10  R@100     k  dense_w")
    for ndcg, rec, k, dw in grid[:10]:
        print(f"  {ndcg:.4f}   {rec:.4f}  {k:4d}  {dw:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--depth", type=int, default=300, help="chunks fetched per query (>= 100 documents)")
    parser.add_argument("--batch", type=int, default=100, help="files per upload request")
    parser.add_argument("--tune", action="store_true", help="grid-search the RRF constant and weights")
    args = parser.parse_args()

    corpus, queries, qrels = load_beir(args.dataset)
    print(f"{args.dataset.name}: {len(corpus)} documents, {len(queries)} judged queries")
    with (
        tempfile.TemporaryDirectory() as tmp,
        tools_server(Path(tmp)) as (url, headers),
        httpx.Client(base_url=url, headers=headers, timeout=3600) as client,
    ):
        status = next(t["status"] for t in client.get("/api/tools/list").json()["tools"] if t["name"] == "rag_query")
        print(f"embedding {status['embedding_model']}; reranking: {status['reranking']}")
        index_corpus(client, corpus, args.batch)
        modes = [
            ("BM25 (bm25s)", {"mode": "sparse", "rerank": False}),
            ("dense", {"mode": "dense", "rerank": False}),
            ("hybrid (RRF)", {"mode": "hybrid", "rerank": False}),
        ]
        if status["reranking"]["enabled"]:
            modes.append(("hybrid + rerank", {"mode": "hybrid", "rerank": True}))
        raw: dict[str, dict[str, list[dict]]] = {}
        table = []
        for label, extra in modes:
            start = time.perf_counter()
            raw[label] = run_queries(client, queries, args.depth, **extra)
            per_query_ms = (time.perf_counter() - start) / len(queries) * 1000
            runs = {q: doc_ranking([Path(r["filename"]).stem for r in res]) for q, res in raw[label].items()}
            table.append((label, *score(runs, qrels), per_query_ms))
    print(f"\n{'mode':<18} {'nDCG@10':>8} {'Recall@100':>11} {'ms/query':>9}")
    for label, ndcg, rec, ms in table:
        print(f"{label:<18} {ndcg:>8.4f} {rec:>11.4f} {ms:>9.1f}")
    if args.tune:
        tune(raw["dense"], raw["BM25 (bm25s)"], qrels)


if __name__ == "__main__":
    main()
