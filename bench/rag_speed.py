"""RAG speed through the tools app's HTTP API: ingestion, incremental adds, query latency, memory.

Stage 1, real model: short documents (one paragraph, ~300 characters) uploaded 100 per
request with the default embedder (ONNX Runtime when installed, else torch): documents/s
and chunks/s end to end (parse, chunk, embed, index, commit).

Stage 2, scale: a collection grown to 10k, 100k and then 1M chunks of English-like text.
Embedding 100k chunks with MiniLM on 2 cores would take about an hour, so at this stage
documents get cheap pseudo-random 384-d unit vectors (same shape as MiniLM's: FAISS does
identical work) while queries, and the 100 documents added at the end, are embedded by
the real model (their first line marks them). So: query latency is real end to end
(HTTP, query embedding, FAISS over all segments, BM25, fusion); the growth rate is the
pipeline without embedding; "add 100 docs" is real, embedding included.

    .venv/bin/python bench/rag_speed.py            # 10k, 100k and 1M chunks (about 20 minutes, ~10 GB)
    .venv/bin/python bench/rag_speed.py --sizes 10000,100000   # without the 1M row
    .venv/bin/python bench/rag_speed.py --quick    # 2k and 10k chunks; also BENCH_QUICK=1
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rag_eval import API, DEFAULT_DATASET, tools_server

DIM = 384
REAL = "Real embedding sample"  # first line of documents the benchmark embeds for real


class SyntheticDocEmbeddings(Embeddings):
    """Pseudo-random unit vectors for bulk documents, the real model for the rest (above)."""

    def __init__(self) -> None:
        from settings import get_settings
        from tools_service.rag.models import RagModels

        self.real = RagModels(get_settings())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if texts and texts[0].startswith(REAL):
            return self.real.embed(texts)  # type: ignore[return-value]
        seed = int.from_bytes(hashlib.blake2b(texts[0].encode(), digest_size=4).digest(), "little") if texts else 0
        vectors = np.random.default_rng(seed).standard_normal((len(texts), DIM), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # type: ignore[return-value]

    def embed_query(self, text: str) -> list[float]:
        return self.real.embed([text], queries=True)[0]  # type: ignore[return-value]


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


@functools.cache
def _cumulative(n: int) -> list[float]:
    """Zipf cumulative weights, computed once: recomputing them per call made the client,
    not the server, the bottleneck of the growth stage."""
    return list(itertools.accumulate(1 / (i + 1) for i in range(n)))


def paragraphs(vocab: list[str], n: int, rng: random.Random, size: int = 450) -> list[str]:
    """Paragraphs of about `size` characters with Zipf-like word frequencies (one chunk each)."""
    cum = _cumulative(len(vocab))
    out = []
    for _ in range(n):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < size - 20:
            words.extend(rng.choices(vocab, cum_weights=cum, k=8))
        out.append(" ".join(words)[: size + 30].rsplit(" ", 1)[0] + ".")
    return out


def upload(client: httpx.Client, collection: str, files: list[tuple[str, bytes]]) -> int:
    resp = client.post(f"{API}/upload", data={"collection": collection}, files=[("files", f) for f in files])
    resp.raise_for_status()
    return int(resp.json()["metadata"]["chunks"])


def short_docs(vocab: list[str], n: int, rng: random.Random, real: bool = False) -> list[tuple[str, bytes]]:
    head = f"{REAL}\n" if real else ""
    return [(f"short{i}.txt", (head + p).encode()) for i, p in enumerate(paragraphs(vocab, n, rng, 300))]


def grow(client: httpx.Client, vocab: list[str], target: int, have: int, rng: random.Random) -> tuple[float, float]:
    """Upload 20-chunk documents, 50 per request, until `target` chunks; (docs/s, chunks/s)."""
    start, added, docs = time.perf_counter(), 0, 0
    while have + added < target:
        n_docs = max(1, min(50, (target - have - added) // 20))
        files = [
            (f"doc{have + added}-{i}.txt", "\n\n".join(paragraphs(vocab, 20, rng)).encode()) for i in range(n_docs)
        ]
        added += upload(client, "speed", files)
        docs += n_docs
    elapsed = time.perf_counter() - start
    return docs / elapsed, added / elapsed


def settle(client: httpx.Client) -> float:
    """Seconds until the collection's background merges are done (the stats' `merging`), so
    that query timings measure queries, not queries beside a merge of half a million rows."""
    start = time.perf_counter()
    while client.get(f"{API}/collections/speed/stats").json()["data"]["merging"]:
        time.sleep(0.2)
    return time.perf_counter() - start


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


def cpu_s(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds the server has used (user + system, all threads): on a shared machine
    documents per CPU-second says what an idle core would sustain, whatever the load."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(proc: subprocess.Popen[bytes]) -> dict[str, float]:
    """The process's memory lines from /proc (VmRSS, VmHWM, RssAnon, RssFile, ...) in MB."""
    out = {}
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) / 1024
    return out


def rss_detail(proc: subprocess.Popen[bytes]) -> str:
    """RSS split into anonymous (heap, FAISS) and file-backed (memory-mapped vectors,
    which the kernel can drop and re-read) memory."""
    mem = memory_mb(proc)
    return ", ".join(f"{k} {mem[k]:.0f} MB" for k in ("VmHWM", "RssAnon", "RssFile") if k in mem)


def rss_mb(proc: subprocess.Popen[bytes]) -> float:
    return memory_mb(proc).get("VmRSS", float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="warning", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    parser.add_argument("--sizes", default=None, help="chunk counts, comma-separated (default 10000,100000,1000000)")
    parser.add_argument("--short-docs", type=int, default=None, help="short documents in stage 1 (default 500)")
    parser.add_argument("--queries", type=int, default=None, help="queries per latency row (default 200)")
    args = parser.parse_args()
    if args.serve:
        serve(args.host, args.port)
        return
    sizes = [int(s) for s in (args.sizes or ("2000,10000" if args.quick else "10000,100000,1000000")).split(",")]
    n_short = args.short_docs or (200 if args.quick else 500)
    n_queries = args.queries or (50 if args.quick else 200)
    rng = random.Random(0)
    vocab = vocabulary()
    report: list[tuple[str, str, str]] = []

    procs: list[subprocess.Popen[bytes]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        tools_server(Path(tmp) / "real", procs=procs) as (url, headers),
        httpx.Client(base_url=url, headers=headers, timeout=3600) as client,
    ):
        client.post(f"{API}/collections", json={"name": "short"})
        upload(client, "short", short_docs(vocab, 20, rng))  # loads (and exports) the model
        docs = short_docs(vocab, n_short, rng)
        start, chunks, cpu0 = time.perf_counter(), 0, cpu_s(procs[0])
        for i in range(0, len(docs), 100):
            chunks += upload(client, "short", docs[i : i + 100])
        elapsed, used = time.perf_counter() - start, cpu_s(procs[0]) - cpu0
        cmd = "bench/rag_speed.py" + (" --quick" if args.quick else "")
        report.append(
            (
                "ingestion, short docs, real model",
                f"{n_short / elapsed:.1f} docs/s, {chunks / elapsed:.1f} chunks/s",
                cmd,
            )
        )
        report.append(("  the same per server CPU-second", f"{n_short / used:.1f} docs/CPU-s", cmd))
        print(f"stage 1: {n_short} short documents in {elapsed:.1f} s", flush=True)

    procs.clear()
    with (
        tempfile.TemporaryDirectory() as tmp,
        tools_server(
            Path(tmp),
            env={"USER_DISK_QUOTA_MB": "1000000"},  # 1M chunks take several GB; the default quota is 2 GB
            command=[sys.executable, __file__, "--serve"],
            procs=procs,
        ) as (url, headers),
        httpx.Client(base_url=url, headers=headers, timeout=3600) as client,
    ):
        client.post(f"{API}/collections", json={"name": "speed"})
        latencies(client, vocab, "hybrid", 1, rng)  # loads the query model
        base_mb, have = rss_mb(procs[0]), 0
        for size in sizes:
            docs_s, chunks_s = grow(client, vocab, size, have, rng)
            have = size
            report.append(
                (f"growth to {size} chunks (no embedding)", f"{docs_s:.1f} docs/s, {chunks_s:.0f} chunks/s", cmd)
            )
            report.append(("  background merges done after the last upload", f"{settle(client):.1f} s", cmd))
            for mode in ("hybrid", "dense", "sparse"):
                p50, p95 = latencies(client, vocab, mode, n_queries, rng)
                report.append((f"{mode} query at {size} chunks", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", cmd))
            stats = client.get(f"{API}/collections/speed/stats").json()["data"]
            print(f"{size} chunks: {len(stats['segments'])} segments, {stats['merges']} merges", flush=True)
        grown_mb = rss_mb(procs[0])
        print(f"server memory at {have} chunks: {rss_detail(procs[0])}", flush=True)
        report.append(
            ("memory (server RSS growth) per 100k chunks", f"{(grown_mb - base_mb) * 100_000 / have:.0f} MB", cmd)
        )
        extra = short_docs(vocab, 100, rng, real=True)
        start, cpu0 = time.perf_counter(), cpu_s(procs[0])
        upload(client, "speed", extra)
        took, used = time.perf_counter() - start, cpu_s(procs[0]) - cpu0
        report.append((f"add 100 short docs to {have} chunks (real model)", f"{took:.2f} s ({used:.2f} CPU-s)", cmd))

    print(f"\n{'measure':<48} {'result':<32} command")
    for label, value, command in report:
        print(f"{label:<48} {value:<32} {command}")


if __name__ == "__main__":
    main()
