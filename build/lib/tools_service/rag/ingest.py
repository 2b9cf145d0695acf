"""Files → documents ready to index: chunks, title-aware index texts, embeddings.

Runs in a worker thread before any lock is taken (see `engine`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from settings import Settings
from tools_service.rag import store
from tools_service.rag.chunking import chunk_text
from tools_service.rag.models import RagModels

__all__ = ["ParsedFile", "ProgressFn", "prepare", "TITLE_MAX_CHARS"]

TITLE_MAX_CHARS = 150
ProgressFn = Callable[[int, int], None]  # (chunks embedded, chunks in all)


@dataclass(frozen=True)
class ParsedFile:
    filename: str
    size: int
    text: str


def _title(text: str) -> str | None:
    """A document's first line, when it is short enough to be a title (or heading)."""
    first = text.strip().split("\n", 1)[0].strip().lstrip("#").strip()
    return first if 0 < len(first) <= TITLE_MAX_CHARS else None


def prepare(
    models: RagModels, s: Settings, files: list[ParsedFile], progress: ProgressFn | None = None
) -> list[store.NewDocument]:
    """Chunk every file, then embed all chunks in one call: batches stay full when a
    request carries many small files, instead of one short batch per file. With
    RAG_TITLE_CHUNKS, each chunk is embedded and BM25-indexed with its document's
    title in front (a chunk from the middle of a paper still says what it is about);
    the stored and returned text stays the chunk itself."""
    chunked = [
        chunk_text(f.text, s.rag_chunking_strategy, s.rag_chunk_size, s.rag_chunk_overlap, embed=models.embed)
        for f in files
    ]
    indexed = []
    for f, texts in zip(files, chunked, strict=True):
        title = _title(f.text) if s.rag_title_chunks else None
        indexed.append([t if title is None or t.startswith(title) else f"{title}\n{t}" for t in texts])
    vectors = models.embed([text for texts in indexed for text in texts], progress=progress)
    out, start = [], 0
    for f, texts, index_texts in zip(files, chunked, indexed, strict=True):
        end = start + len(texts)
        out.append(store.NewDocument(uuid.uuid4().hex, f.filename, f.size, texts, vectors[start:end], index_texts))
        start = end
    return out
