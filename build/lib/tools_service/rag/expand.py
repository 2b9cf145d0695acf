"""Multi-query expansion: the LLM rephrases the question, every phrasing is searched,
and the rankings are fused. Vocabulary mismatch is the commonest retrieval miss, and a
rephrasing often uses the words the documents use.

Expansion is an optimisation, never a dependency: if the backend is down, slow, or
answers nonsense, retrieval goes on with the original query alone.
"""

from __future__ import annotations

import asyncio
import logging

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

__all__ = ["QueryVariants", "expand_query"]

log = logging.getLogger(__name__)

PROMPT = (
    "You help a search engine. Write {n} different rephrasings of the search query below, "
    "each a standalone query that keeps its meaning but uses other words (synonyms, the "
    "technical term, the expanded abbreviation). Answer only with the list.\n\nQuery: {query}"
)


class QueryVariants(BaseModel):
    """Alternative phrasings of one search query."""

    queries: list[str] = Field(description="rephrasings of the query, one per item")


async def expand_query(llm: BaseChatModel, query: str, n: int, timeout: float) -> list[str]:
    """Up to `n` distinct rephrasings of `query` (not including it); [] on any failure."""
    if n <= 0:
        return []
    try:
        structured = llm.with_structured_output(QueryVariants)
        result = await asyncio.wait_for(structured.ainvoke(PROMPT.format(n=n, query=query)), timeout)
    except Exception as exc:  # the LLM is optional here: log and carry on
        log.warning("multi-query expansion failed, using the original query only: %s", exc)
        return []
    if not isinstance(result, QueryVariants):
        return []
    seen = {query.strip().lower()}
    variants: list[str] = []
    for text in result.queries:
        text = " ".join(str(text).split())[:500]
        if text and text.lower() not in seen:
            seen.add(text.lower())
            variants.append(text)
    return variants[:n]
