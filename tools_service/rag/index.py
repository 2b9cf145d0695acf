"""FAISS indexes over unit-length embeddings, so inner product = cosine similarity.

RAG_INDEX_TYPE picks the structure: `Flat` (exact), `HNSW` (graph, approximate, no
training), `IVF` (clustered, approximate), or `auto` (the default): Flat for segments
under `AUTO_IVF_MIN_VECTORS` (exact and cheap to build: every upload's segment), IVF for
the large ones that merges make, where a Flat scan would dominate a query. Measured on
this 2-core machine over 100k 384-d vectors, one thread: a Flat scan 21.8 ms (it reads
all 150 MB), IVF with 2*sqrt(n) lists searched in 1/8 of them about 3 ms, built in a
few seconds (recall of the exact top 10 / top 50 at 1/8 of the lists, real MiniLM vectors
of cranfield and man-page chunks: 0.98 / 0.94 and 0.94 / 0.88); HNSW (M 16,
efConstruction 40) searches in 1.1 ms but took 28 s to build 50k vectors on both cores,
and merges rebuild the large segments' indexes in the background while queries run.
Each segment has its own index, built once (segments are immutable). IVF needs training
data, so a segment smaller than `IVF_MIN_VECTORS` is Flat.
"""

from __future__ import annotations

import math
import os
from typing import Any

import faiss
import numpy as np

__all__ = ["build_index", "exclusion_params", "search", "IVF_MIN_VECTORS"]

IVF_MIN_VECTORS = 1024
AUTO_IVF_MIN_VECTORS = 20_000
IVF_TRAIN_PER_LIST = 64  # k-means sample: 64 vectors per list (FAISS warns under 39)
HNSW_M = 32
HNSW_EF_SEARCH = 96


def _build_threads() -> None:
    faiss.omp_set_num_threads(max(1, os.cpu_count() or 1))


def _nlist(n: int) -> int:
    return min(4096, max(8, int(2 * math.sqrt(n))))


def _training_sample(vectors: np.ndarray, nlist: int) -> np.ndarray:
    """A fixed-seed sample for k-means: training on every vector of a 1M-row segment
    would cost minutes for no better lists."""
    n = vectors.shape[0]
    size = min(n, IVF_TRAIN_PER_LIST * nlist)
    if size == n:
        return vectors
    rows = np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))
    return np.ascontiguousarray(vectors[rows])


def build_index(kind: str, vectors: np.ndarray) -> faiss.Index:
    """A fresh index of `kind` holding `vectors` (rows in order: FAISS id = row)."""
    _build_threads()
    n, dim = vectors.shape
    index: faiss.Index
    if kind == "auto":
        kind = "IVF" if n >= AUTO_IVF_MIN_VECTORS else "Flat"
    if kind == "HNSW":
        hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        index = hnsw
    elif kind == "IVF" and n >= IVF_MIN_VECTORS:
        nlist = _nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(_training_sample(vectors, nlist))
        ivf.nprobe = max(16, nlist // 8)
        index = ivf
    else:
        index = faiss.IndexFlatIP(dim)
    if n:
        index.add(vectors)
    return index


def exclusion_params(index: faiss.Index, rows: np.ndarray) -> Any:
    """Search parameters that skip `rows` (tombstoned chunks), of the type `index`
    expects; the selector objects ride along on the parameters so they stay alive."""
    batch = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
    selector = faiss.IDSelectorNot(batch)
    inner: Any = faiss.downcast_index(index)
    api: Any = faiss  # the SWIG stubs do not declare these classes' keyword arguments
    params: Any
    if isinstance(inner, faiss.IndexHNSW):
        params = api.SearchParametersHNSW(sel=selector, efSearch=inner.hnsw.efSearch)
    elif isinstance(inner, faiss.IndexIVF):
        params = api.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
    else:
        params = api.SearchParameters(sel=selector)
    params.keepalive = (batch, selector)
    return params


def search(index: faiss.Index, queries: np.ndarray, k: int, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (cosine, row) per query. One OpenMP thread: on 2 cores, measured faster for
    single queries, and concurrent requests already use the other core."""
    faiss.omp_set_num_threads(1)
    k = min(k, index.ntotal)
    if k <= 0:
        empty = np.empty((queries.shape[0], 0))
        return empty.astype(np.float32), empty.astype(np.int64)
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)
    return scores, ids
