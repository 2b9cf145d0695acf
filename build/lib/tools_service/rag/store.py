"""One collection on disk (a manifest over immutable segments) and its in-memory snapshot.

Layout of `DATA_DIR/rag/<user>/<collection>/`:
- `manifest.json`: the committed state: documents, and the segments in order, each with
  its tombstones (ids of documents deleted from it but still physically inside).
- `seg-<id>/`: one immutable segment (see `segment`).

Costs follow the change, not the collection: an upload writes one new segment; a delete
rewrites only the manifest (a tombstone; a segment whose documents are all deleted is
dropped at once). Queries skip tombstoned rows (a FAISS ID selector, a BM25 mask), so a
deleted document's text cannot be found; a merge then removes it physically. Merges
(`plan_merge`) keep the number of segments logarithmic in the collection's size, the
way Lucene's tiered policy does: `factor` segments of one size tier become one segment
of the next tier, so each chunk is rewritten about log_factor(N) times in all.

Commits: new segment folders are built under `.tmp-*` names (files fsync'ed), renamed
into place, and only then is the manifest replaced (atomically, fsync'ed). A crash at
any point leaves the previous manifest naming segments that are all still there.
Folders no manifest names (a crashed commit's, merged-away segments) are removed by the
next commit. Snapshots are never mutated; callers serialise commits (see `engine`).
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tools_service.rag import segment as seg_io
from tools_service.rag.files import FORMAT, MANIFEST, _atomic_write
from tools_service.rag.index import exclusion_params
from tools_service.rag.segment import Segment, SegmentDoc

__all__ = [
    "NewDocument",
    "SegmentView",
    "Snapshot",
    "init_collection",
    "load",
    "commit_add",
    "commit_delete",
    "manifest_key",
    "MANIFEST",
]

log = logging.getLogger(__name__)

STALE_TMP_S = 3600.0  # a `.tmp-*` folder this old belongs to no live commit


@dataclass(frozen=True)
class NewDocument:
    id: str
    filename: str
    size: int
    texts: list[str]
    embeddings: np.ndarray
    index_texts: list[str] | None = None  # what BM25 indexes (default: `texts`)


@dataclass(frozen=True)
class SegmentView:
    """A segment as one snapshot sees it: its tombstones and where its rows start."""

    segment: Segment
    deleted: frozenset[str]
    offset: int
    live: np.ndarray | None = None  # bool per row; None = nothing deleted
    params: Any = None  # FAISS search parameters that skip the deleted rows

    @staticmethod
    def make(segment: Segment, deleted: frozenset[str], offset: int) -> SegmentView:
        deleted = deleted & frozenset(segment.docs)
        if not deleted:
            return SegmentView(segment, deleted, offset)
        gone = np.fromiter((d in deleted for d in segment.docs), dtype=bool, count=len(segment.docs))
        live = ~gone[segment.row_doc]
        return SegmentView(segment, deleted, offset, live, exclusion_params(segment.index, np.flatnonzero(~live)))

    @property
    def live_rows(self) -> int:
        return self.segment.size if self.live is None else int(self.live.sum())


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    dim: int | None = None
    index_type: str = "Flat"
    embedding_model: str = ""
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: tuple[SegmentView, ...] = ()
    key: tuple[int, int] = (0, 0)

    @property
    def size(self) -> int:
        """Live chunks (tombstoned ones excluded)."""
        return sum(int(d["chunks"]) for d in self.documents.values())

    @cached_property
    def n_rows(self) -> int:
        return sum(v.segment.size for v in self.views)

    @cached_property
    def avgdl(self) -> float:
        total = sum(float(v.segment.sparse.lengths.sum()) for v in self.views)
        return total / max(1, self.n_rows)

    @cached_property
    def _offsets(self) -> list[int]:
        return [v.offset for v in self.views]

    def locate(self, row: int) -> tuple[SegmentView, int]:
        view = self.views[bisect.bisect_right(self._offsets, row) - 1]
        return view, row - view.offset

    def doc_of(self, row: int) -> str:
        view, local = self.locate(row)
        return view.segment.docs[int(view.segment.row_doc[local])]

    def chunk_id(self, row: int) -> str:
        view, local = self.locate(row)
        return f"{view.segment.docs[int(view.segment.row_doc[local])]}:{int(view.segment.chunk_no[local])}"

    def text(self, row: int) -> str:
        view, local = self.locate(row)
        return view.segment.texts[local]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim or 0), dtype=np.float32)
        for i, row in enumerate(rows):
            view, local = self.locate(int(row))
            out[i] = view.segment.vectors[local]
        return out

    @cached_property
    def doc_segment(self) -> dict[str, str]:
        return {d: v.segment.name for v in self.views for d in v.segment.docs if d not in v.deleted}


def manifest_key(path: Path) -> tuple[int, int]:
    """Changes whenever another worker commits (os.replace gives a new inode)."""
    try:
        st = (path / MANIFEST).stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_ino, st.st_mtime_ns)


def _manifest(
    snap: Snapshot, version: int, dim: int | None, docs: dict[str, Any], views: list[SegmentView]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": version,
        "dim": dim,
        "index_type": snap.index_type,
        "embedding_model": snap.embedding_model,
        "documents": list(docs.values()),
        "segments": [{"name": v.segment.name, "rows": v.segment.size, "deleted": sorted(v.deleted)} for v in views],
    }


def init_collection(path: Path, index_type: str, embedding_model: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    empty = Snapshot(index_type=index_type, embedding_model=embedding_model)
    _atomic_write(path / MANIFEST, json.dumps(_manifest(empty, 0, None, {}, [])).encode())
    seg_io.fsync_dir(path)


def _views(entries: list[tuple[Segment, frozenset[str]]]) -> tuple[SegmentView, ...]:
    out, offset = [], 0
    for segment, deleted in entries:
        out.append(SegmentView.make(segment, deleted, offset))
        offset += segment.size
    return tuple(out)


def _snapshot_from(manifest: dict[str, Any], views: tuple[SegmentView, ...], key: tuple[int, int]) -> Snapshot:
    return Snapshot(
        version=manifest["version"],
        dim=manifest["dim"],
        index_type=manifest["index_type"],
        embedding_model=manifest.get("embedding_model", ""),
        documents={d["id"]: d for d in manifest["documents"]},
        views=views,
        key=key,
    )


def load(path: Path, previous: Snapshot | None = None) -> Snapshot:
    """The committed state at `path`; segments already in `previous` are reused, so a
    worker that sees another's commit loads only the new segments."""
    key = manifest_key(path)
    manifest: dict[str, Any] = json.loads((path / MANIFEST).read_text())
    if manifest.get("format", 1) < FORMAT:
        from tools_service.rag.migrate import migrate_v1

        manifest = migrate_v1(path, manifest)
        key = manifest_key(path)
    known = {v.segment.name: v.segment for v in previous.views} if previous else {}
    entries = [
        (known.get(e["name"]) or seg_io.load(path / e["name"], manifest["index_type"]), frozenset(e["deleted"]))
        for e in manifest["segments"]
    ]
    return _snapshot_from(manifest, _views(entries), key)


def _commit(
    path: Path, old: Snapshot, docs: dict[str, Any], views: tuple[SegmentView, ...], dim: int | None
) -> Snapshot:
    manifest = _manifest(old, old.version + 1, dim, docs, list(views))
    _atomic_write(path / MANIFEST, json.dumps(manifest).encode())
    seg_io.fsync_dir(path)
    _collect_garbage(path, {v.segment.name for v in views})
    return _snapshot_from(manifest, views, manifest_key(path))


def _collect_garbage(path: Path, live: set[str]) -> None:
    now = time.time()
    for item in path.iterdir():
        if item.name.startswith("seg-") and item.name not in live:
            shutil.rmtree(item, ignore_errors=True)
        elif item.name.startswith(".tmp-") and now - item.stat().st_mtime > STALE_TMP_S:
            shutil.rmtree(item, ignore_errors=True)


def new_segment(path: Path, docs: list[NewDocument], index_type: str) -> tuple[Path, Segment]:
    """Write the segment of an upload under a temporary name (no lock needed)."""
    seg_id = uuid.uuid4().hex
    tmp = path / f".tmp-{seg_id}"
    items = [
        SegmentDoc(d.id, d.texts, d.index_texts or d.texts, np.asarray(d.embeddings, dtype=np.float32)) for d in docs
    ]
    try:
        return tmp, seg_io.write(tmp, f"seg-{seg_id}", items, index_type)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def commit_add(path: Path, old: Snapshot, new_docs: list[NewDocument], tmp: Path, segment: Segment) -> Snapshot:
    """Commit an upload's segment: rename it into place, then replace the manifest."""
    os.rename(tmp, path / segment.name)
    docs = dict(old.documents)
    for doc in new_docs:
        docs[doc.id] = {
            "id": doc.id,
            "filename": doc.filename,
            "chunks": len(doc.texts),
            "size": doc.size,
            "created_at": time.time(),
        }
    views = (*old.views, SegmentView(segment, frozenset(), old.n_rows))
    return _commit(path, old, docs, views, int(segment.vectors.shape[1]))


def commit_delete(path: Path, old: Snapshot, doc_id: str) -> Snapshot:
    """Tombstone one document; a segment left with no live document is dropped."""
    docs = {k: v for k, v in old.documents.items() if k != doc_id}
    entries = []
    for view in old.views:
        deleted = view.deleted | {doc_id} if doc_id in view.segment.docs else view.deleted
        if len(deleted) < len(view.segment.docs):
            entries.append((view.segment, deleted))
    return _commit(path, old, docs, _views(entries), old.dim)
