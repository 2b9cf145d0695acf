"""RAG speed: indexing throughput and query latency at 10k and 100k chunks, over HTTP.

Two measurements, both through the tools app's HTTP API (uvicorn subprocess):

1. End-to-end indexing with the real all-MiniLM-L6-v2 on CPU (parse, chunk, embed,
   index, commit) on a sample: embedding dominates, so this is the number to plan with.
2. Scale: a collection grown to 10k and then 100k chunks of synthetic English-like text.
   Embedding 100k chunks with MiniLM on 2 cores takes far longer than a benchmark should,
   so at this stage documents get cheap pseudo-random 384-d unit vectors (same shape as
   MiniLM's, so FAISS does identical work) while queries are still embedded by the real
   MiniLM. Query latency is therefore real end to end (HTTP, query embedding, FAISS,
   BM25, fusion); the indexing rate here is the pipeline without embedding.

    .venv/bin/python bench/rag_speed.py                 # both stages, 10k and 100k
    .venv/bin/python bench/rag_speed.py --sizes 10000   # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rag_eval import API, DEFAULT_DATASET, tools_server

DIM = 384


class SyntheticDocEmbeddings(Embeddings):
    """Pseudo-random unit vectors for documents, the real MiniLM for queries (see above)."""

    def __init__(self) -> None:
        from langchain_huggingface import HuggingFaceEmbeddings

        from settings import get_settings

        self.queries = HuggingFaceEmbeddings(
            model_name=get_settings().rag_embedding_model,
            model_kwargs={"device": "cpu", "local_files_only": True},
            encode_kwargs={"normalize_embeddings": True},
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        seed = int.from_bytes(hashlib.blake2b(texts[0].encode(), digest_size=4).digest(), "little") if texts else 0
        vectors = np.random.default_rng(seed).standard_normal((len(texts), DIM), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # type: ignore[return-value]

    def embed_query(self, text: str) -> list[float]:
        return self.queries.embed_query(text)


def serve(host: str, port: int) -> None:
    import uvicorn

    from tools_service.main import create_app

    app = create_app()
    app.state.rag_embeddings = SyntheticDocEmbeddings()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def vocabulary() -> list[str]:
    words: dict[str, int] = {}
    for line in (DEFAULT_DATASET / "corpus.jsonl").read_text().splitlines():
        for w in json.loads(line)["text"].split():
            if w.isalpha():
                words[w] = words.get(w, 0) + 1
    return sorted(words, key=lambda w: -words[w])


def paragraphs(vocab: list[str], n: int, rng: random.Random) -> list[str]:
    """~450-character paragraphs with Zipf-like word frequencies (one chunk each)."""
    weights = [1 / (i + 1) for i in range(len(vocab))]
    out = []
    for _ in range(n):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < 430:
            words.extend(rng.choices(vocab, weights, k=8))
        out.append(" ".join(words)[:480].rsplit(" ", 1)[0] + ".")
    return out


def grow(client: httpx.Client, vocab: list[str], target: int, have: int, per_doc: int, rng: random.Random) -> float:
    """Upload documents until the collection holds `target` chunks; returns chunks/s."""
    start, added = time.perf_counter(), 0
    while have + added < target:
        n_docs = max(1, min(10, (target - have - added) // per_doc))
        files = [
            ("files", (f"doc{have + added}-{i}.txt", "\n\n".join(paragraphs(vocab, per_doc, rng)).encode()))
            for i in range(n_docs)
        ]
        resp = client.post(f"{API}/upload", data={"collection": "speed"}, files=files)
        resp.raise_for_status()
        added += resp.json()["metadata"]["chunks"]
    return added / (time.perf_counter() - start)


def latencies(client: httpx.Client, vocab: list[str], mode: str, n: int, rng: random.Random) -> tuple[float, float]:
    samples = []
    for i in range(n + 10):
        query = " ".join(rng.choices(vocab[50:3000], k=6))
        t0 = time.perf_counter()
        resp = client.post(f"{API}/query", json={"collection": "speed", "query": query, "top_k": 5, "mode": mode})
        elapsed = time.perf_counter() - t0
        resp.raise_for_status()
        if i >= 10:  # warm-up excluded
            samples.append(elapsed * 1000)
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="warning", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--sample", type=int, default=500, help="chunks indexed with the real model")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    if args.serve:
        serve(args.host, args.port)
        return
    rng = random.Random(0)
    vocab = vocabulary()
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        tools_server(Path(tmp) / "real") as (url, headers),
        httpx.Client(base_url=url, headers=headers, timeout=3600) as client,
    ):
        client.post(f"{API}/collections", json={"name": "speed"})
        grow(client, vocab, 20, 0, 20, rng)  # loads the model
        real_rate = grow(client, vocab, 20 + args.sample, 20, 50, rng)
        print(f"end-to-end indexing with all-MiniLM-L6-v2 on CPU: {real_rate:.1f} chunks/s ({args.sample} chunks)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        tools_server(Path(tmp), command=[sys.executable, __file__, "--serve"]) as (url, headers),
        httpx.Client(base_url=url, headers=headers, timeout=3600) as client,
    ):
        client.post(f"{API}/collections", json={"name": "speed"})
        have = 0
        for size in (int(s) for s in args.sizes.split(",")):
            rate = grow(client, vocab, size, have, 1000, rng)
            have = size
            stats = {mode: latencies(client, vocab, mode, args.queries, rng) for mode in ("hybrid", "dense", "sparse")}
            rows.append((size, rate, stats))
            print(
                f"{size} chunks: indexing (without embedding) {rate:.0f} chunks/s; "
                + "; ".join(f"{m} p50 {p50:.1f} ms p95 {p95:.1f} ms" for m, (p50, p95) in stats.items()),
                flush=True,
            )
    print(f"\n{'chunks':>8} {'index chunks/s':>15} " + " ".join(f"{m + ' p50/p95 ms':>22}" for m in rows[0][2]))
    for size, rate, stats in rows:
        print(f"{size:>8} {rate:>15.0f} " + " ".join(f"{p50:>13.1f} / {p95:>6.1f}" for p50, p95 in stats.values()))


if __name__ == "__main__":
    main()
