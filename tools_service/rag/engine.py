"""The RAG engine: per-user collections, serialised commits, lock-free reads.

Why this shape:
- Writers of one collection are serialised twice: an asyncio lock (one process) and a
  file lock (several uvicorn workers on one DATA_DIR). Parsing, chunking and embedding
  happen before the lock, so a slow upload does not stall others for its whole length.
- Readers never lock: they search an immutable `Snapshot`; a commit swaps in a new one.
  Before each operation the manifest is stat'ed, so a commit by another worker is seen.
- All CPU work (embedding, FAISS, BM25, file I/O) runs in worker threads, never on the
  event loop. Models (embeddings, cross-encoder, LLM) load lazily, once.
- An upload's new segment is built before the lock too; the commit only renames it into
  place and rewrites the manifest. Merges run in the background (see `merging`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from core.errors import APIError
from settings import Settings
from tools_service.rag import store
from tools_service.rag.ingest import ParsedFile, ProgressFn, prepare
from tools_service.rag.jobs import JobStore
from tools_service.rag.merging import Merger
from tools_service.rag.models import RagModels
from tools_service.rag.querying import run_query

__all__ = ["RagEngine", "COLLECTION_RE", "ParsedFile"]

log = logging.getLogger(__name__)

COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _manifest_key(path: Path) -> tuple[int, int]:
    """`store.manifest_key` of a collection that exists; 404 for one that does not (or is gone)."""
    key = store.manifest_key(path)
    if key == (0, 0):
        raise APIError(404, f"collection {path.name!r} not found", code="collection_not_found")
    return key


class RagEngine:
    def __init__(
        self,
        settings: Settings,
        *,
        embeddings: Embeddings | None = None,
        llm: BaseChatModel | None = None,
        reranker: Any = None,
    ) -> None:
        self.settings = settings
        self.root = settings.data_dir / "rag"
        self.models = RagModels(settings, embeddings=embeddings, llm=llm, reranker=reranker)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._cache: dict[tuple[str, str], store.Snapshot] = {}
        self.merger = Merger(self)
        self.jobs = JobStore(self.root)

    @property
    def embedding_model_name(self) -> str:
        return self.models.embedding_model_name

    @property
    def reranking_enabled(self) -> bool:
        return self.models.reranking_enabled

    # -- paths and locks ------------------------------------------------------------

    def _path(self, user: str, name: str) -> Path:
        if not COLLECTION_RE.match(name):
            raise APIError(
                400,
                "collection names are 1-64 letters, digits, '_' or '-', starting with a letter or digit",
                param="collection",
            )
        return self.root / user / name

    def _lock(self, user: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((user, name), asyncio.Lock())

    @staticmethod
    def _file_lock(path: Path) -> FileLock:
        return FileLock(str(path.parent / f".{path.name}.lock"))

    async def _snapshot(self, user: str, name: str) -> tuple[Path, store.Snapshot]:
        path = self._path(user, name)
        key = _manifest_key(path)
        cached = self._cache.get((user, name))
        if cached is not None and cached.key == key:
            return path, cached
        async with self._lock(user, name):
            cached = self._cache.get((user, name))
            if cached is None or cached.key != store.manifest_key(path):
                cached = await asyncio.to_thread(self._load_locked, path, cached)
                self._cache[(user, name)] = cached
        return path, cached

    def _load_locked(self, path: Path, previous: store.Snapshot | None = None) -> store.Snapshot:
        with self._file_lock(path):
            _manifest_key(path)
            try:
                return store.load(path, previous)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RuntimeError: FAISS read errors
                log.exception("collection %s could not be loaded", path)
                raise APIError(
                    503, f"collection {path.name!r} could not be loaded ({type(exc).__name__})", code="rag_storage"
                ) from exc

    # -- collections ----------------------------------------------------------------

    async def create_collection(self, user: str, name: str) -> None:
        path = self._path(user, name)
        async with self._lock(user, name):
            await asyncio.to_thread(self._create, path)

    def _create(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".new-{path.name}-{uuid.uuid4().hex}"
        store.init_collection(tmp, self.settings.rag_index_type, self.embedding_model_name)
        try:
            os.rename(tmp, path)  # atomic; fails if the collection already exists (never empty)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise APIError(409, f"collection {path.name!r} already exists", code="collection_exists") from exc

    async def list_collections(self, user: str) -> list[dict[str, Any]]:
        """Read from the manifests only: listing must not load every index into memory."""

        def scan() -> list[dict[str, Any]]:
            folder = self.root / user
            out = []
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                if not COLLECTION_RE.match(path.name):
                    continue
                try:
                    docs = json.loads((path / store.MANIFEST).read_text())["documents"]
                except (OSError, ValueError, KeyError):
                    continue  # being created or deleted right now
                out.append({"name": path.name, "documents": len(docs), "chunks": sum(d["chunks"] for d in docs)})
            return out

        return await asyncio.to_thread(scan)

    async def delete_collection(self, user: str, name: str) -> None:
        path = self._path(user, name)
        async with self._lock(user, name):
            await asyncio.to_thread(self._delete_dir, path)
            self._cache.pop((user, name), None)

    def _delete_dir(self, path: Path) -> None:
        with self._file_lock(path):
            _manifest_key(path)
            trash = path.parent / f".trash-{path.name}-{uuid.uuid4().hex}"
            os.rename(path, trash)  # atomic: readers see it whole or not at all
        shutil.rmtree(trash, ignore_errors=True)

    # -- documents ------------------------------------------------------------------

    async def add_documents(
        self, user: str, name: str, files: list[ParsedFile], progress: ProgressFn | None = None
    ) -> list[dict[str, Any]]:
        """Chunk, embed and build the new segment outside the lock, then commit all files
        at once (or none). The cost is that of the upload, whatever the collection's size."""
        path, snap = await self._snapshot(user, name)
        new_docs = await asyncio.to_thread(prepare, self.models, self.settings, files, progress)
        dims = {d.embeddings.shape[1] for d in new_docs}
        tmp, segment = await asyncio.to_thread(store.new_segment, path, new_docs, snap.index_type)

        def add(current: store.Snapshot) -> store.Snapshot:
            if current.dim is not None and dims - {current.dim}:
                raise APIError(
                    409,
                    f"collection {name!r} was indexed with {current.dim}-dimensional embeddings "
                    "by another model; re-create it",
                    code="embedding_mismatch",
                )
            return store.commit_add(path, current, new_docs, tmp, segment)

        try:
            await self._commit(user, name, snap, add)
        finally:
            if tmp.exists():  # not committed
                await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._after_commit(user, name)
        return [{"id": d.id, "filename": d.filename, "chunks": len(d.texts)} for d in new_docs]

    async def _commit(
        self, user: str, name: str, snap: store.Snapshot, change: Callable[[store.Snapshot], store.Snapshot]
    ) -> None:
        """Apply `change` to the committed snapshot under both locks (this process's, then the
        file lock across workers) and cache what it returns. `snap` is reused unless another
        request or worker committed since."""
        path = self._path(user, name)

        def locked(cached: store.Snapshot) -> store.Snapshot:
            with self._file_lock(path):
                return change(cached if cached.key == _manifest_key(path) else store.load(path, cached))

        async with self._lock(user, name):
            cached = self._cache.get((user, name), snap)
            self._cache[(user, name)] = await asyncio.to_thread(locked, cached)

    async def optimize(self, user: str, name: str) -> None:
        """Merge all segments into one now (deleted documents' chunks are dropped from disk)."""
        await self._snapshot(user, name)
        await self.merger.optimize(user, name)

    async def stats(self, user: str, name: str) -> dict[str, Any]:
        _, snap = await self._snapshot(user, name)
        return {
            "documents": len(snap.documents),
            "chunks": snap.size,
            "segments": [
                {
                    "name": v.segment.name,
                    "rows": v.segment.size,
                    "live_rows": v.live_rows,
                    "deleted_documents": len(v.deleted),
                }
                for v in snap.views
            ],
            "merges": self.merger.merges,
            "merging": self.merger.running(user, name),
        }

    async def close(self) -> None:
        await self.jobs.close()
        await self.merger.close()

    async def list_documents(self, user: str, name: str) -> list[dict[str, Any]]:
        _, snap = await self._snapshot(user, name)
        return list(snap.documents.values())

    async def delete_document(self, user: str, name: str, doc_id: str) -> None:
        path, snap = await self._snapshot(user, name)

        def delete(current: store.Snapshot) -> store.Snapshot:
            if doc_id not in current.documents:
                raise APIError(404, f"document {doc_id!r} not found in collection {name!r}", code="document_not_found")
            return store.commit_delete(path, current, doc_id)

        await self._commit(user, name, snap, delete)
        await self._after_commit(user, name)

    async def _after_commit(self, user: str, name: str) -> None:
        """Merge if the policy asks: in the background, or before answering when
        RAG_MERGE_IN_BACKGROUND is off (deterministic, for tests and batch jobs)."""
        if self.settings.rag_merge_in_background:
            self.merger.schedule(user, name)
        else:
            while await self.merger.merge_once(user, name):
                pass

    # -- queries --------------------------------------------------------------------

    async def query(
        self,
        user: str,
        name: str,
        query: str,
        top_k: int | None = None,
        *,
        mode: str | None = None,
        use_rerank: bool | None = None,
    ) -> list[dict[str, Any]]:
        _, snap = await self._snapshot(user, name)
        return await run_query(self.models, self.settings, snap, query, top_k, mode=mode, use_rerank=use_rerank)
