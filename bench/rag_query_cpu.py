"""CPU cost of one hybrid query at 100k chunks, in-process (no HTTP), per stage.

On a shared machine, wall-clock latency measures the neighbours; thread CPU time per
stage says what one idle core needs. Documents are synthetic (Zipf-distributed words,
random unit vectors, one segment of `--chunks` rows); queries are embedded for real.

    .venv/bin/python bench/rag_query_cpu.py [--chunks 100000] [--queries 100] [--segments 9] [--index auto]

`--segments N` splits the rows into N segments halving in size (what tiered merges leave
behind), so the per-segment costs show.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rag_speed import paragraphs, vocabulary

from settings import get_settings
from tools_service.rag import store
from tools_service.rag.models import RagModels
from tools_service.rag.querying import settings_params
from tools_service.rag.retrieve import combine, dense_ranking, sparse_rankings


def _split(docs: list[store.NewDocument], n: int) -> list[list[store.NewDocument]]:
    """`n` parts, each half the size of the one before (the last takes the rest)."""
    parts, rest = [], docs
    for _ in range(n - 1):
        cut = len(rest) // 2
        parts.append(rest[:cut])
        rest = rest[cut:]
    return [p for p in [*parts, rest] if p]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--index", default="auto")
    parser.add_argument("--segments", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(0)
    vocab = vocabulary()
    texts = paragraphs(vocab, args.chunks, rng)
    vectors = np.random.default_rng(0).standard_normal((args.chunks, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = [
        store.NewDocument(f"d{i}", f"d{i}.txt", 1, texts[i : i + 20], vectors[i : i + 20])
        for i in range(0, args.chunks, 20)
    ]
    models = RagModels(get_settings())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c"
        store.init_collection(path, args.index, "bench")
        t0 = time.perf_counter()
        snap = store.load(path)
        for part in _split(docs, args.segments):
            tmp_seg, seg = store.new_segment(path, part, args.index)
            snap = store.commit_add(path, snap, part, tmp_seg, seg)
        sizes = [v.segment.size for v in snap.views]
        print(f"built {args.chunks} rows in segments of {sizes} ({args.index}) in {time.perf_counter() - t0:.1f} s")
        params = settings_params(get_settings(), candidates=50)  # the defaults, as a top_k 5 query gets them
        cost: dict[str, list[float]] = {
            "embed query": [],
            "dense": [],
            "BM25 + feedback": [],
            "dense fb + fusion": [],
        }
        models.embed(["warm up"], queries=True)
        for _ in range(args.queries):
            query = " ".join(rng.choices(vocab[50:3000], k=6))
            t = time.thread_time()
            qvec = models.embed([query], queries=True)[0]
            t1 = time.thread_time()
            dense = dense_ranking(snap, qvec, 50)
            t2 = time.thread_time()
            sparse = sparse_rankings(snap, query, 50, params)
            t3 = time.thread_time()
            combine(snap, [dense], [sparse], qvec.reshape(1, -1), params)
            t4 = time.thread_time()
            for key, value in zip(cost, (t1 - t, t2 - t1, t3 - t2, t4 - t3), strict=True):
                cost[key].append(value * 1000)
    total = np.sum([np.asarray(v) for v in cost.values()], axis=0)
    print(f"\n{'stage':<18} {'CPU ms p50':>10} {'p95':>8}")
    for key, values in [*cost.items(), ("total", list(total))]:
        print(f"{key:<18} {np.percentile(values, 50):>10.2f} {np.percentile(values, 95):>8.2f}")


if __name__ == "__main__":
    main()
