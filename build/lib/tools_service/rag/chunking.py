"""Text → chunks, by one of four strategies (RAG_CHUNKING_STRATEGY).

Sizes are in characters (RAG_CHUNK_SIZE / RAG_CHUNK_OVERLAP), as in the original:
operators tune them without knowing the embedding model's tokenizer.

- `fixed`: windows of `size` characters, `overlap` shared between neighbours.
- `recursive`: LangChain's recursive splitter (paragraphs, lines, words), the default.
- `sentence`: whole sentences packed up to `size`, trailing sentences repeated as overlap.
- `semantic`: sentences grouped while they stay on topic; a new chunk starts where the
  embedding distance between neighbouring sentences jumps (above the 90th percentile of
  the document's distances), or where `size` would be exceeded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

__all__ = ["chunk_text", "split_sentences", "STRATEGIES"]

STRATEGIES = ("fixed", "recursive", "sentence", "semantic")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n{2,}")
SEMANTIC_PERCENTILE = 90.0

EmbedFn = Callable[[list[str]], np.ndarray]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _fixed(text: str, size: int, overlap: int) -> list[str]:
    step = max(1, size - overlap)
    return [text[i : i + size] for i in range(0, max(len(text) - overlap, 1), step)]


def _recursive(text: str, size: int, overlap: int) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    return splitter.split_text(text)


def _pack(groups: list[list[str]], size: int, overlap: int) -> list[str]:
    """Join sentence groups into chunks of at most `size` chars (a longer sentence is cut)."""
    chunks: list[str] = []
    for group in groups:
        current: list[str] = []
        for sentence in group:
            if len(sentence) > size:
                if current:
                    chunks.append(" ".join(current))
                    current = []
                chunks.extend(_fixed(sentence, size, overlap))
                continue
            if current and len(" ".join([*current, sentence])) > size:
                chunks.append(" ".join(current))
                tail: list[str] = []
                for prev in reversed(current):  # carry whole trailing sentences as overlap
                    if len(" ".join([prev, *tail])) > overlap:
                        break
                    tail.insert(0, prev)
                current = tail if len(" ".join([*tail, sentence])) <= size else []
            current.append(sentence)
        if current:
            chunks.append(" ".join(current))
    return chunks


def _semantic(text: str, size: int, overlap: int, embed: EmbedFn) -> list[str]:
    sentences = split_sentences(text)
    if len(sentences) < 3:
        return _pack([sentences], size, overlap)
    vectors = np.asarray(embed(sentences), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    distances = 1.0 - np.sum(vectors[:-1] * vectors[1:], axis=1)
    cut = float(np.percentile(distances, SEMANTIC_PERCENTILE))
    groups: list[list[str]] = [[sentences[0]]]
    for sentence, distance in zip(sentences[1:], distances, strict=True):
        if distance > cut:
            groups.append([])
        groups[-1].append(sentence)
    return _pack(groups, size, 0)


def chunk_text(text: str, strategy: str, size: int, overlap: int, embed: EmbedFn | None = None) -> list[str]:
    """Chunks of `text` (never empty strings); `embed` is needed only for `semantic`."""
    size = max(16, size)
    overlap = max(0, min(overlap, size // 2))
    if strategy == "fixed":
        chunks = _fixed(text, size, overlap)
    elif strategy == "recursive":
        chunks = _recursive(text, size, overlap)
    elif strategy == "sentence":
        chunks = _pack([split_sentences(text)], size, overlap)
    elif strategy == "semantic":
        if embed is None:
            raise ValueError("semantic chunking needs an embedding function")
        chunks = _semantic(text, size, overlap, embed)
    else:
        raise ValueError(f"unknown chunking strategy {strategy!r}")
    return [c.strip() for c in chunks if c.strip()]
