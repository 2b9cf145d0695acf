"""Admin only: user accounts and the default backend model.

Roles change only here (and in the recovery CLI): sign-up always makes a `user`. A user
is named in paths by id or by username. The last enabled admin cannot be demoted,
disabled or deleted, so the platform can always be administered over HTTP.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import func, select

from app.api.deps import AdminUser, DBDep, ServicesDep
from app.db import User
from app.schemas.accounts import UserPublic
from app.services import accounts, runtime_settings
from app.services.accounts import Password, Username
from core.errors import APIError

router = APIRouter(prefix="/api/admin", tags=["admin"])

Role = Literal["user", "admin"]


class UserCreate(BaseModel):
    username: Username
    password: Password
    role: Role = "user"


class UserUpdate(BaseModel):
    role: Role | None = None
    disabled: bool | None = None
    password: Password | None = None


class ModelIn(BaseModel):
    model: str | None = Field(default=None, max_length=200)


class AllowedModelsIn(BaseModel):
    models: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=500)


def _public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


async def _user(db: DBDep, ref: str) -> User:
    user = await accounts.find_user(db, ref)
    if user is None:
        raise APIError(404, f"no user {ref!r}", code="user_not_found")
    return user


async def _keep_last_admin(db: DBDep, user: User) -> None:
    if await accounts.is_last_admin(db, user):
        raise APIError(409, "this is the last enabled admin: make another admin first", code="last_admin")


@router.get("/users")
async def list_users(
    db: DBDep,
    admin: AdminUser,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    total = int((await db.exec(select(func.count()).select_from(User))).one())
    users = (await db.exec(select(User).order_by(User.username).offset(offset).limit(limit))).all()
    return {"object": "list", "data": [_public(u) for u in users], "total": total, "limit": limit, "offset": offset}


@router.post("/users", status_code=201)
async def create_user(body: UserCreate, db: DBDep, admin: AdminUser) -> UserPublic:
    try:
        user = await accounts.create_user(db, body.username, body.password, role=body.role)
    except accounts.UsernameTaken as exc:
        raise APIError(409, f"username {body.username!r} is taken", code="username_taken") from exc
    return _public(user)


@router.get("/users/{ref}")
async def get_user(ref: str, db: DBDep, admin: AdminUser) -> UserPublic:
    return _public(await _user(db, ref))


@router.patch("/users/{ref}")
async def update_user(ref: str, body: UserUpdate, db: DBDep, admin: AdminUser) -> UserPublic:
    """Change role, disable/enable, or reset the password; the user's older tokens stop working."""
    user = await _user(db, ref)
    if body.role == "user" or body.disabled is True:
        await _keep_last_admin(db, user)
    user = await accounts.update_user(db, user, role=body.role, disabled=body.disabled, password=body.password)
    return _public(user)


@router.delete("/users/{ref}")
async def delete_user(ref: str, services: ServicesDep, db: DBDep, admin: AdminUser) -> dict[str, Any]:
    """Remove the account with its sessions, checkpoints, uploads and workspaces."""
    user = await _user(db, ref)
    await _keep_last_admin(db, user)
    user_id = user.id
    removed = await accounts.delete_user_data(db, services.settings, user, services)
    return {"id": user_id, "object": "user", "deleted": True, "sessions_deleted": removed}


@router.get("/model")
async def get_model(services: ServicesDep, db: DBDep, admin: AdminUser) -> dict[str, Any]:
    chosen = await runtime_settings.default_model(db)
    return {
        "model": chosen or services.llm.info.model,
        "overridden": chosen is not None,
        "backend": services.llm.info.name,
    }


@router.post("/model")
async def set_model(body: ModelIn, services: ServicesDep, db: DBDep, admin: AdminUser) -> dict[str, Any]:
    """Persisted in the database: every worker uses it from its next request. `null` or ""
    goes back to the backend's configured model."""
    name = (body.model or "").strip()
    if name in services.graphs:
        raise APIError(400, f"{name!r} is an agent, not a backend model", param="model", code="not_a_model")
    await runtime_settings.set_value(db, runtime_settings.DEFAULT_MODEL_KEY, name)
    listed = name in await services.llm.list_models() if name else True
    return {
        "model": name or services.llm.info.model,
        "overridden": bool(name),
        "listed_by_backend": listed,
        "backend": services.llm.info.name,
    }


@router.get("/models/allowed")
async def get_allowed_models(db: DBDep, admin: AdminUser) -> dict[str, Any]:
    """Backend models users may name in `model` (admins may name any); empty: no restriction."""
    models = await runtime_settings.allowed_models(db)
    return {"models": models, "restricted": bool(models)}


@router.put("/models/allowed")
async def put_allowed_models(
    body: AllowedModelsIn, services: ServicesDep, db: DBDep, admin: AdminUser
) -> dict[str, Any]:
    """Replace the allow-list; `[]` lifts the restriction. Agent names are not backend models."""
    agents = [m for m in body.models if m.strip() in services.graphs]
    if agents:
        raise APIError(400, f"{', '.join(agents)}: agents, not backend models", param="models", code="not_a_model")
    models = await runtime_settings.set_allowed_models(db, body.models)
    return {"models": models, "restricted": bool(models)}
