"""`GET /v1/models`: the agents first, then the backend's own models."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from app.api.deps import CurrentUser, ServicesDep

router = APIRouter(prefix="/v1", tags=["openai"])

_STARTED = int(time.time())


@router.get("/models")
async def list_models(services: ServicesDep, user: CurrentUser) -> dict[str, Any]:
    data: list[dict[str, Any]] = [
        {"id": name, "object": "model", "created": _STARTED, "owned_by": "llm-api", "x_kind": "agent"}
        for name in services.graphs
    ]
    for model in await services.llm.list_models():
        if model not in services.graphs:
            data.append(
                {
                    "id": model,
                    "object": "model",
                    "created": _STARTED,
                    "owned_by": services.llm.info.name,
                    "x_kind": "backend_model",
                }
            )
    return {"object": "list", "data": data}
