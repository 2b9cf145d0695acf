"""Settings changed at run time by an admin, kept in the database so every worker sees them.

Besides the default backend model: the allow-list of backend models users may name
(empty: any), and the per-request token cap (`MAX_TOKENS_LIMIT`, from settings), both
checked by the chat route before a run starts.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import AppSetting, utcnow
from core.errors import APIError

__all__ = [
    "get_value",
    "set_value",
    "default_model",
    "allowed_models",
    "set_allowed_models",
    "check_model_allowed",
    "check_max_tokens",
    "DEFAULT_MODEL_KEY",
    "ALLOWED_MODELS_KEY",
]

DEFAULT_MODEL_KEY = "default_model"
ALLOWED_MODELS_KEY = "allowed_models"


async def get_value(db: AsyncSession, key: str) -> str | None:
    row = await db.get(AppSetting, key)
    return row.value if row is not None and row.value else None


async def set_value(db: AsyncSession, key: str, value: str) -> None:
    row = await db.get(AppSetting, key)
    if row is None:
        row = AppSetting(key=key, value=value)
    else:
        row.value = value
        row.updated_at = utcnow()
    db.add(row)
    await db.commit()


async def default_model(db: AsyncSession) -> str | None:
    """The backend model an admin chose with POST /api/admin/model, if any."""
    return await get_value(db, DEFAULT_MODEL_KEY)


async def allowed_models(db: AsyncSession) -> list[str]:
    """Backend models users may name; empty means no restriction."""
    raw = await get_value(db, ALLOWED_MODELS_KEY)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [str(m) for m in value] if isinstance(value, list) else []


async def set_allowed_models(db: AsyncSession, models: list[str]) -> list[str]:
    cleaned = sorted({m.strip() for m in models if m.strip()})
    await set_value(db, ALLOWED_MODELS_KEY, json.dumps(cleaned) if cleaned else "")
    return cleaned


async def check_model_allowed(db: AsyncSession, user: Any, model: str | None) -> None:
    """Raise 403 when a (non-admin) user names a backend model outside the admin's
    allow-list. `None` (an agent on the default model) is always allowed; so is any
    model for admins, who set the list."""
    if not model or getattr(user, "role", "user") == "admin":
        return
    allowed = await allowed_models(db)
    if allowed and model not in allowed:
        raise APIError(
            403,
            f"model {model!r} is not available to you; allowed models: {', '.join(allowed)}",
            param="model",
            code="model_not_allowed",
        )


def check_max_tokens(settings: Any, requested: int | None) -> None:
    """Raise 400 when a request asks for more tokens than `MAX_TOKENS_LIMIT` allows."""
    cap = getattr(settings, "max_tokens_limit", None)
    if cap is not None and requested is not None and requested > cap:
        raise APIError(
            400, f"max_tokens {requested} exceeds this server's limit of {cap}", param="max_tokens", code="max_tokens"
        )
