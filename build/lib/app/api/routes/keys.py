"""The caller's API keys: `sk-llmapi-...` credentials that work wherever a token does."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import CurrentUser, DBDep
from app.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.services import api_keys
from core.errors import APIError

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.post("", status_code=201)
async def create_key(body: ApiKeyCreate, db: DBDep, user: CurrentUser) -> ApiKeyCreated:
    """The key is in this response only; store it now."""
    name = " ".join(body.name.split())
    if not name:
        raise APIError(422, "name: must not be blank", param="name")
    try:
        row, key = await api_keys.create_key(db, user.id, name)
    except api_keys.TooManyKeys as exc:
        raise APIError(
            409, f"at most {api_keys.MAX_KEYS_PER_USER} active keys: revoke one first", code="too_many_keys"
        ) from exc
    return ApiKeyCreated(id=row.id, name=row.name, key=key, created_at=row.created_at)


@router.get("")
async def list_keys(db: DBDep, user: CurrentUser) -> dict[str, Any]:
    rows = await api_keys.list_keys(db, user.id)
    data = [ApiKeyPublic.model_validate(r, from_attributes=True) for r in rows]
    return {"object": "list", "data": data}


@router.delete("/{key_id}")
async def revoke_key(key_id: str, db: DBDep, user: CurrentUser) -> dict[str, Any]:
    """Refused from the next request on, by every worker (keys are checked in the database)."""
    if not await api_keys.revoke_key(db, user.id, key_id):
        raise APIError(404, f"no key {key_id!r}", code="key_not_found")
    return {"id": key_id, "object": "api_key", "deleted": True}
