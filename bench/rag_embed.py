"""Embedding throughput on CPU: sentence-transformers (torch) vs ONNX Runtime fp32 / int8.

Embeds cranfield chunks (title + text, cut at 512 characters like the default chunker)
with each backend, prints chunks/s, and the agreement with torch's vectors: the mean
and minimum cosine between the two vectors of each chunk, and the overlap of the top-10
neighbours of 100 query vectors (what retrieval sees).

    .venv/bin/python bench/rag_embed.py            # 1000 chunks
    .venv/bin/python bench/rag_embed.py --n 300    # quicker
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from settings import default_embedding_model  # noqa: E402
from tools_service.rag.onnx_embed import OnnxEncoder, export, onnx_path  # noqa: E402

DATASET = next(
    (p / "shared" / "datasets" / "cranfield" for p in REPO.parents if (p / "shared" / "datasets").is_dir()),
    REPO.parent / "shared" / "datasets" / "cranfield",
)


def texts(n: int) -> tuple[list[str], list[str]]:
    docs = [json.loads(line) for line in (DATASET / "corpus.jsonl").read_text().splitlines()][:n]
    queries = [json.loads(line)["text"] for line in (DATASET / "queries.jsonl").read_text().splitlines()][:100]
    return [f"{d.get('title', '')}\n{d['text']}"[:512] for d in docs], queries


def timed(fn, items: list[str]) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    fn(items[:16])  # warm-up
    start = time.perf_counter()
    out = fn(items)
    return np.asarray(out, dtype=np.float32), len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model_dir = Path(default_embedding_model())
    chunks, queries = texts(args.n)
    st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    encode = lambda t: st.encode(t, batch_size=64, normalize_embeddings=True, show_progress_bar=False)  # noqa: E731
    ref, ref_rate = timed(encode, chunks)
    ref_q = encode(queries)
    rows = [("torch (sentence-transformers)", ref_rate, 1.0, 1.0, 1.0)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export(model_dir, Path(tmp), quantized=True)
        print(f"ONNX export + int8 quantisation: {time.perf_counter() - start:.1f} s")
        for label, quantized in (("onnxruntime fp32", False), ("onnxruntime int8", True)):
            encoder = OnnxEncoder(model_dir, onnx_path(model_dir, Path(tmp), quantized), threads=args.threads)
            vecs, rate = timed(encoder, chunks)
            cos = (vecs * ref).sum(axis=1)
            qv = encoder(queries)
            top_ref = np.argsort(-(ref_q @ ref.T), axis=1)[:, :10]
            top = np.argsort(-(qv @ vecs.T), axis=1)[:, :10]
            overlap = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_ref, top, strict=True)]))
            rows.append((label, rate, float(cos.mean()), float(cos.min()), float(overlap)))
    print(f"\n{len(chunks)} chunks, {args.threads} thread(s)")
    print(f"{'backend':<32} {'chunks/s':>9} {'mean cos':>9} {'min cos':>8} {'top-10 overlap':>15}")
    for label, rate, mean, low, share in rows:
        print(f"{label:<32} {rate:>9.1f} {mean:>9.4f} {low:>8.4f} {share:>15.3f}")


if __name__ == "__main__":
    main()
