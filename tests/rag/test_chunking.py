"""The four chunking strategies keep their size and overlap promises."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.rag.helpers import HashEmbeddings
from tools_service.rag.chunking import chunk_text, split_sentences

TEXT = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(60))


@pytest.mark.parametrize("strategy", ["fixed", "recursive", "sentence", "semantic"])
def test_chunks_respect_size_and_cover_text(strategy: str) -> None:
    embed = HashEmbeddings(64)
    chunks = chunk_text(TEXT, strategy, 200, 40, embed=lambda t: np.asarray(embed.embed_documents(t)))
    assert len(chunks) > 5
    assert all(0 < len(c) <= 200 for c in chunks)
    for i in range(60):  # nothing lost
        assert any(f"number {i} " in c for c in chunks), i


def test_fixed_overlap_and_sentence_boundaries() -> None:
    chunks = chunk_text("abcdefghij" * 10, "fixed", 30, 10)
    assert all(a[-10:] == b[:10] for a, b in itertools.pairwise(chunks))
    for chunk in chunk_text(TEXT, "sentence", 200, 60):
        assert chunk.startswith("Sentence") and chunk.endswith(".")


def test_semantic_splits_where_the_topic_changes() -> None:
    cooking = [f"Bake the bread dough with flour yeast and butter step {i}." for i in range(6)]
    space = [f"The rocket engine burns fuel to reach orbit stage {i}." for i in range(6)]
    embed = HashEmbeddings(128)
    chunks = chunk_text(
        " ".join(cooking + space), "semantic", 2000, 0, embed=lambda t: np.asarray(embed.embed_documents(t))
    )
    assert len(chunks) >= 2
    assert not any("bread" in c and "rocket" in c for c in chunks)
    assert len(split_sentences(" ".join(cooking))) == 6
