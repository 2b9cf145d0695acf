"""`POST /v1/embeddings`: OpenAI's embeddings endpoint over the RAG embedding model.

The vectors come from the tools app (`/api/tools/embeddings`), which has the model loaded
once; this app never loads torch or the model. `input` is a string or a list of strings
(token-id arrays are refused: we do not share OpenAI's tokenizer), `encoding_format` is
`float` (default) or `base64` (little-endian float32, what the `openai` SDK decodes).
`usage` counts whitespace-separated words: the tokenizer lives with the model.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import CurrentUser, ServicesDep
from app.services import catalog
from core.errors import APIError

router = APIRouter(prefix="/v1", tags=["openai"])

MAX_INPUTS = 2048


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None


def _texts(value: str | list[str] | list[int] | list[list[int]]) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not items:
        raise APIError(400, "input must not be empty", param="input")
    if not all(isinstance(item, str) for item in items):
        raise APIError(400, "input must be text: token-id arrays are not supported", param="input")
    if len(items) > MAX_INPUTS:
        raise APIError(400, f"at most {MAX_INPUTS} inputs per request", param="input")
    if any(item == "" for item in items):
        raise APIError(400, "input strings must not be empty", param="input")
    return [str(item) for item in items]


@router.post("/embeddings")
async def create_embeddings(body: EmbeddingsRequest, services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    name = catalog.embedding_model(services)
    if body.model not in (name, services.settings.rag_embedding_model):
        raise catalog.model_not_found(body.model)
    texts = _texts(body.input)
    if services.tools_client is None:
        raise APIError(503, "embeddings need the tools app, and this app runs without it", code="not_ready")
    result = await services.tools_client.call(user.id, "/api/tools/embeddings", {"input": texts})
    if not result.success:
        status = int(result.metadata.get("status") or 503)
        raise APIError(400 if status == 400 else 503, f"embeddings failed: {result.answer}", code="embeddings_failed")
    dims = int(result.data["dimensions"])
    if body.dimensions is not None and body.dimensions != dims:
        raise APIError(400, f"{name} makes {dims}-dimensional vectors; it cannot shorten them", param="dimensions")
    data = []
    for index, packed in enumerate(result.data["vectors"]):
        vector: str | list[float] = packed
        if body.encoding_format == "float":
            raw = base64.b64decode(packed)
            vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = int(result.data.get("tokens", 0))
    return {"object": "list", "data": data, "model": name, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
