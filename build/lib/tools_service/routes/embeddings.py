"""`POST /api/tools/embeddings`: the RAG embedding model for the main app's `/v1/embeddings`.

The main app must not load torch or the model itself (every worker would hold a copy); the
tools app already has it, loaded once, for RAG. Vectors travel as base64 little-endian
float32 (exact and a quarter of the JSON size); the main app turns them into what the
client asked for. Encoding runs in a thread, so a large batch never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from core.errors import APIError
from tools_service.auth import CurrentCaller
from tools_service.deps import get_rag
from tools_service.envelope import ToolResult, ok

__all__ = ["router", "SPECS", "EmbedRequest", "MAX_INPUTS", "MAX_CHARS"]

router = APIRouter(prefix="/api/tools", tags=["embeddings"])
SPECS: list[dict[str, Any]] = []  # a service for the main app, not a tool agents call

MAX_INPUTS = 2048  # OpenAI's limit per request
MAX_CHARS = 100_000  # per input; the model reads its first 256 tokens anyway


class EmbedRequest(BaseModel):
    input: list[str] = Field(min_length=1, max_length=MAX_INPUTS)
    queries: bool = False  # some models embed search queries differently


# Not in the OpenAPI schema: an internal service for the main app (the fuzzer would otherwise
# load the model for random batches); clients use the main app's `/v1/embeddings`.
@router.post("/embeddings", include_in_schema=False)
async def embeddings(body: EmbedRequest, request: Request, caller: CurrentCaller) -> ToolResult:
    if any(len(text) > MAX_CHARS for text in body.input):
        raise APIError(400, f"each input may be at most {MAX_CHARS} characters", param="input")
    rag = get_rag(request)
    vectors = await asyncio.to_thread(rag.models.embed, body.input, queries=body.queries)
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    return ok(
        f"{len(body.input)} embeddings",
        {
            "model": rag.embedding_model_name,
            "dimensions": int(vectors.shape[1]),
            "vectors": [base64.b64encode(row.tobytes()).decode("ascii") for row in vectors],
            "tokens": sum(len(text.split()) for text in body.input),
        },
    )
