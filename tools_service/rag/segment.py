"""One immutable index segment: chunks, vectors, FAISS index and BM25 postings.

A segment is written once, into a temporary folder (every file fsync'ed), and renamed
into place by the commit that names it in the manifest; after that nothing changes it.
An upload writes one small segment, so its cost is that of the upload, never that of
the collection; merges (see `store.plan_merge`) read segments and write a new one.

Files of `seg-<id>/`: `rows.json` (document ids, per-row document and chunk number,
texts), `vectors.npy` (float32 unit vectors, memory-mapped when loaded: the page cache
holds them, not the heap), `index.faiss`, `terms.json` + `postings.npz` (BM25).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from tools_service.rag import sparse
from tools_service.rag.index import build_index

__all__ = ["Segment", "SegmentDoc", "write", "write_merged", "load", "fsync_dir"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentDoc:
    """One new document: its chunks, the texts that were indexed for them (the chunk
    with the document's title in front) and their embeddings."""

    id: str
    texts: list[str]
    index_texts: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class Segment:
    name: str
    docs: list[str]
    row_doc: np.ndarray  # int32: index into `docs`
    chunk_no: np.ndarray  # int32: the chunk's number within its document
    texts: list[str]
    vectors: np.ndarray
    index: faiss.Index
    sparse: sparse.SparseSegment

    @property
    def size(self) -> int:
        return len(self.texts)

    @property
    def doc_chunks(self) -> dict[str, int]:
        counts = np.bincount(self.row_doc, minlength=len(self.docs))
        return {d: int(c) for d, c in zip(self.docs, counts, strict=True)}


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _save(folder: Path, seg: Segment) -> Segment:
    """Write `seg` under `folder`; the returned copy reads its vectors from the file
    (memory-mapped): FAISS holds its own copy, and a second one on the heap would double
    the memory of every collection."""
    folder.mkdir(parents=True)
    rows = {"docs": seg.docs, "row_doc": seg.row_doc.tolist(), "chunk_no": seg.chunk_no.tolist(), "texts": seg.texts}
    _write_file(folder / "rows.json", json.dumps(rows).encode())
    with open(folder / "vectors.npy", "wb") as fh:
        np.save(fh, np.ascontiguousarray(seg.vectors, dtype=np.float32))
        fh.flush()
        os.fsync(fh.fileno())
    faiss.write_index(seg.index, str(folder / "index.faiss"))  # no serialised copy in memory
    sparse.save(seg.sparse, folder)
    for name in ("index.faiss", "terms.json", "postings.npz"):
        with open(folder / name, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(folder)
    return dataclasses.replace(seg, vectors=np.load(folder / "vectors.npy", mmap_mode="r"))


def write(folder: Path, name: str, docs: Sequence[SegmentDoc], index_type: str) -> Segment:
    """Build a segment of new documents and save it under `folder` (not yet committed)."""
    texts = [t for d in docs for t in d.texts]
    row_doc = np.repeat(np.arange(len(docs), dtype=np.int32), [len(d.texts) for d in docs])
    chunk_no = (
        np.concatenate([np.arange(len(d.texts), dtype=np.int32) for d in docs]) if docs else np.zeros(0, np.int32)
    )
    vectors = np.ascontiguousarray(np.concatenate([d.vectors for d in docs]), dtype=np.float32)
    postings = sparse.build([sparse.tokenize(t) for d in docs for t in d.index_texts])
    seg = Segment(
        name, [d.id for d in docs], row_doc, chunk_no, texts, vectors, build_index(index_type, vectors), postings
    )
    return _save(folder, seg)


def write_merged(folder: Path, name: str, parts: Sequence[tuple[Segment, np.ndarray]], index_type: str) -> Segment:
    """One segment holding the rows of `parts` that their `keep` masks keep: deleted
    documents' chunks, vectors and postings are gone from it for good."""
    docs: list[str] = []
    row_doc, chunk_no, vectors = [], [], []
    texts: list[str] = []
    for seg, keep in parts:
        kept_docs = sorted(set(seg.row_doc[keep].tolist()))
        remap = np.full(len(seg.docs), -1, dtype=np.int32)
        remap[kept_docs] = np.arange(len(docs), len(docs) + len(kept_docs), dtype=np.int32)
        docs.extend(seg.docs[i] for i in kept_docs)
        row_doc.append(remap[seg.row_doc[keep]])
        chunk_no.append(seg.chunk_no[keep])
        vectors.append(np.asarray(seg.vectors[keep], dtype=np.float32))
        texts.extend(t for t, k in zip(seg.texts, keep, strict=True) if k)
    all_vectors = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
    merged = Segment(
        name,
        docs,
        np.concatenate(row_doc),
        np.concatenate(chunk_no),
        texts,
        all_vectors,
        build_index(index_type, all_vectors),
        sparse.merge([(seg.sparse, keep) for seg, keep in parts]),
    )
    return _save(folder, merged)


def load(folder: Path, index_type: str) -> Segment:
    rows = json.loads((folder / "rows.json").read_text())
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    try:
        index = faiss.read_index(str(folder / "index.faiss"))
    except (OSError, RuntimeError):
        log.warning("rebuilding the index of segment %s from its stored vectors", folder)
        index = build_index(index_type, np.ascontiguousarray(vectors, dtype=np.float32))
    if index.ntotal != len(rows["texts"]):
        raise ValueError(f"segment {folder.name}: index holds {index.ntotal} vectors for {len(rows['texts'])} chunks")
    return Segment(
        folder.name,
        rows["docs"],
        np.asarray(rows["row_doc"], dtype=np.int32),
        np.asarray(rows["chunk_no"], dtype=np.int32),
        rows["texts"],
        vectors,
        index,
        sparse.load(folder),
    )
