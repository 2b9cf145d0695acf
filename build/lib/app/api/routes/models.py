"""`GET /v1/models` and `GET /v1/models/{id}`: the agents first, then the backend's own
models (cached briefly, `app.services.catalog`), then the embedding model."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from app.api.deps import CurrentUser, ServicesDep
from app.services import catalog
from app.services.container import Services

router = APIRouter(prefix="/v1", tags=["openai"])

_STARTED = int(time.time())


def _entry(model_id: str, owner: str, kind: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _STARTED, "owned_by": owner, "x_kind": kind}


async def _models(services: Services) -> list[dict[str, Any]]:
    data = [_entry(name, "llm-api", "agent") for name in services.graphs]
    for model in await catalog.backend_models(services.llm):
        if model not in services.graphs:
            data.append(_entry(model, services.llm.info.name, "backend_model"))
    embedder = catalog.embedding_model(services)
    if all(m["id"] != embedder for m in data):
        data.append(_entry(embedder, "llm-api", "embedding"))
    return data


@router.get("/models")
async def list_models(services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    return {"object": "list", "data": await _models(services)}


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    for entry in await _models(services):
        if entry["id"] == model_id:
            return entry
    raise catalog.model_not_found(model_id)
