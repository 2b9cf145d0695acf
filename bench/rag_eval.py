"""Retrieval quality of the RAG tool on a BEIR-layout collection, through its HTTP API.

Starts a tools app (uvicorn subprocess, its own temporary DATA_DIR), uploads the corpus
(one .txt file per document), runs every query in BM25-only, dense-only and hybrid mode
(and reranked, when RAG_RERANKER_MODEL is set), and prints nDCG@10 and Recall@100 at
document level (a document ranks where its best chunk ranks).

    .venv/bin/python bench/rag_eval.py                      # ../shared/datasets/cranfield
    .venv/bin/python bench/rag_eval.py --dataset debian     # the held-out collection
    RAG_CHUNKING_STRATEGY=sentence .venv/bin/python bench/rag_eval.py   # any RAG_* setting

The defaults were chosen by `bench/rag_tune.py` (a grid on the dev halves of cranfield and
the man pages); `--dataset debian` (bench/heldout_debian.py) is held out from that.
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
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_DATASET = next(  # ../shared in a checkout, ../../shared in a worktree
    (p / "shared" / "datasets" / "cranfield" for p in REPO.parents if (p / "shared" / "datasets").is_dir()),
    REPO.parent / "shared" / "datasets" / "cranfield",
)
API = "/api/tools/rag"
# the defaults tuned on cranfield's dev half alone (until the man pages joined the tuning)
PREVIOUS_DEFAULTS = {
    "RAG_FUSION": "rrf",
    "RAG_PRF_DOCS": "10",
    "RAG_PRF_WEIGHT": "0.7",
    "RAG_SPARSE_WEIGHT": "1.0",
    "RAG_SPARSE_ORIGINAL_WEIGHT": "0",
    "RAG_DENSE_WEIGHT": "2.0",
    "RAG_DENSE_PRF_DOCS": "5",
    "RAG_DENSE_PRF_WEIGHT": "1.0",
    "RAG_RRF_K": "100",
}
# the defaults of stop 20 (RRF), tuned on cranfield and the man pages, before score fusion
RRF_DEFAULTS = {
    "RAG_FUSION": "rrf",
    "RAG_PRF_DOCS": "10",
    "RAG_PRF_WEIGHT": "0.3",
    "RAG_SPARSE_WEIGHT": "0.5",
    "RAG_SPARSE_ORIGINAL_WEIGHT": "1.0",
    "RAG_DENSE_WEIGHT": "2.0",
    "RAG_DENSE_PRF_DOCS": "3",
    "RAG_DENSE_PRF_WEIGHT": "1.0",
    "RAG_RRF_K": "60",
}


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


def paired_interval(
    a: dict[str, list[str]], b: dict[str, list[str]], qrels: dict[str, dict[str, int]], resamples: int = 2000
) -> tuple[float, float, float]:
    """Mean nDCG@10 of run a minus run b over the same queries, and its 95% paired
    bootstrap interval (queries resampled with replacement, fixed seed)."""
    diffs = np.asarray([ndcg_at(a[q], qrels[q]) - ndcg_at(b[q], qrels[q]) for q in a])
    rng = np.random.default_rng(0)
    means = diffs[rng.integers(0, len(diffs), size=(resamples, len(diffs)))].mean(axis=1)
    return float(diffs.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def split(queries: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Dev (tuning) and test halves: odd query ids tune, even ids are held out."""
    dev = {q: t for q, t in queries.items() if int(q) % 2 == 1} if all(q.isdigit() for q in queries) else {}
    if not dev:
        ordered = sorted(queries)
        dev = {q: queries[q] for q in ordered[::2]}
    return dev, {q: t for q, t in queries.items() if q not in dev}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--depth", type=int, default=300, help="chunks fetched per query (>= 100 documents)")
    parser.add_argument("--batch", type=int, default=100, help="files per upload request")
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
        no_feedback = {"RAG_PRF_DOCS": "0", "RAG_DENSE_PRF_DOCS": "0"}
        modes = [
            ("BM25 (no feedback)", {"mode": "sparse", "rerank": False}, no_feedback),
            ("BM25 + RM3 pass", {"mode": "sparse", "rerank": False}, {"RAG_PRF_DOCS": "10"}),
            ("dense (no feedback)", {"mode": "dense", "rerank": False}, no_feedback),
            ("dense + feedback", {"mode": "dense", "rerank": False}, {}),
            ("hybrid, no feedback", {"mode": "hybrid", "rerank": False}, no_feedback),
            ("hybrid, old defaults", {"mode": "hybrid", "rerank": False}, PREVIOUS_DEFAULTS),
            ("hybrid, RRF (stop 20)", {"mode": "hybrid", "rerank": False}, RRF_DEFAULTS),
            ("hybrid (default)", {"mode": "hybrid", "rerank": False}, {}),
        ]
        if status["reranking"]["enabled"]:
            modes.append(("hybrid + rerank", {"mode": "hybrid", "rerank": True}, {}))
        table = []
        all_runs: dict[str, dict[str, list[str]]] = {}
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
            all_runs[label] = runs
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
        print(f"\n{'mode':<21} {'nDCG@10':>8} {'dev':>7} {'test':>7} {'Recall@100':>11} {'ms/query':>9}")
        for label, ndcg, ndcg_dev, ndcg_test, rec, ms in table:
            print(f"{label:<21} {ndcg:>8.4f} {ndcg_dev:>7.4f} {ndcg_test:>7.4f} {rec:>11.4f} {ms:>9.1f}")
        for label in ("hybrid (default)", "hybrid, RRF (stop 20)"):
            mean, lo, hi = paired_interval(all_runs[label], all_runs["BM25 (no feedback)"], qrels)
            print(f"{label} - BM25: {mean:+.4f} nDCG@10, 95% paired bootstrap interval [{lo:+.4f}, {hi:+.4f}]")


def timed_queries(
    client: httpx.Client, queries: dict[str, str], depth: int, **extra: Any
) -> tuple[dict[str, list[dict]], float]:
    start = time.perf_counter()
    results = run_queries(client, queries, depth, **extra)
    return results, (time.perf_counter() - start) / len(queries) * 1000


if __name__ == "__main__":
    main()
