"""FAISS indexes over unit-length embeddings, so inner product = cosine similarity.

RAG_INDEX_TYPE picks the structure: `Flat` (exact; the default, fast enough to 100k
chunks), `HNSW` (graph, approximate, no training) or `IVF` (clustered, approximate).
IVF needs training data, so a collection stays Flat until it has `IVF_MIN_VECTORS`
vectors, and is retrained whenever it outgrows its cluster count; otherwise new vectors
are added to a clone so readers of the old index are never disturbed.
"""

from __future__ import annotations

import math
import os
from typing import Any

import faiss
import numpy as np

__all__ = ["build_index", "extend_index", "search", "IVF_MIN_VECTORS"]

IVF_MIN_VECTORS = 1024
HNSW_M = 32
HNSW_EF_SEARCH = 96


def _build_threads() -> None:
    faiss.omp_set_num_threads(max(1, os.cpu_count() or 1))


def _nlist(n: int) -> int:
    return max(8, int(4 * math.sqrt(n)))


def build_index(kind: str, vectors: np.ndarray) -> faiss.Index:
    """A fresh index of `kind` holding `vectors` (rows in order: FAISS id = row)."""
    _build_threads()
    n, dim = vectors.shape
    index: faiss.Index
    if kind == "HNSW":
        hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        index = hnsw
    elif kind == "IVF" and n >= IVF_MIN_VECTORS:
        nlist = _nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.nprobe = max(8, nlist // 8)
        index = ivf
    else:
        index = faiss.IndexFlatIP(dim)
    if n:
        index.add(vectors)
    return index


def extend_index(index: faiss.Index | None, kind: str, all_vectors: np.ndarray, n_new: int) -> faiss.Index:
    """An index over `all_vectors`, whose last `n_new` rows are new; `index` is not modified."""
    n = all_vectors.shape[0]
    if index is None or index.ntotal != n - n_new or index.d != all_vectors.shape[1]:
        return build_index(kind, all_vectors)
    if kind == "IVF":
        ivf = faiss.try_extract_index_ivf(index) if not isinstance(index, faiss.IndexFlat) else None
        if ivf is None and n >= IVF_MIN_VECTORS:
            return build_index(kind, all_vectors)
        if ivf is not None and ivf.nlist < _nlist(n) // 2:
            return build_index(kind, all_vectors)
    _build_threads()
    clone: Any = faiss.clone_index(index)
    if kind == "HNSW":
        graph: Any = faiss.downcast_index(clone)
        graph.hnsw.efSearch = HNSW_EF_SEARCH
    elif isinstance(index, faiss.IndexIVFFlat):
        faiss.extract_index_ivf(clone).nprobe = faiss.extract_index_ivf(index).nprobe
    clone.add(all_vectors[n - n_new :])
    return clone


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (cosine, row) per query. One OpenMP thread: on 2 cores, measured faster for
    single queries, and concurrent requests already use the other core."""
    faiss.omp_set_num_threads(1)
    k = min(k, index.ntotal)
    if k <= 0:
        empty = np.empty((queries.shape[0], 0))
        return empty.astype(np.float32), empty.astype(np.int64)
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids
