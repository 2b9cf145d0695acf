"""RAG's contracts: the two tools the agents call, and the HTTP API's own request models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools_service.contracts.base import NoArgs, ToolContract

__all__ = ["MAX_TOP_K", "CollectionCreate", "RagQueryArgs", "QueryRequest", "RAG_QUERY", "RAG_LIST", "CONTRACTS"]

MAX_TOP_K = 1000  # passages per query, for the model and for HTTP callers (bench/rag_eval.py asks for 300)


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class RagQueryArgs(BaseModel):
    collection: str = Field(
        min_length=1,
        max_length=64,
        description="Name of one of the user's document collections (see rag_list_collections).",
    )
    query: str = Field(min_length=1, max_length=4000, description="What to look for, as a question or keywords.")
    top_k: int | None = Field(default=None, ge=1, le=MAX_TOP_K, description="How many passages (optional).")


class QueryRequest(RagQueryArgs):
    """`POST /api/tools/rag/query`: the model's arguments plus options for HTTP callers."""

    mode: Literal["hybrid", "dense", "sparse"] | None = Field(
        default=None, description="default: hybrid if RAG_USE_HYBRID else dense; sparse = BM25 alone"
    )
    rerank: bool | None = Field(default=None, description="default: rerank when RAG_RERANKER_MODEL is set")


RAG_QUERY = ToolContract(
    name="rag_query",
    description=(
        "Search one of the user's uploaded document collections and get the best matching passages, "
        "each with its file name and a relevance score in [0, 1]. Quote or cite the passages you use."
    ),
    path="/api/tools/rag/query",
    args=RagQueryArgs,
)

RAG_LIST = ToolContract(
    name="rag_list_collections",
    description="List the user's document collections (name, number of documents) that rag_query can search.",
    path="/api/tools/rag/collections",
    args=NoArgs,
    method="GET",
)

CONTRACTS = (RAG_QUERY, RAG_LIST)
