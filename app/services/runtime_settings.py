"""Settings changed at run time by an admin, kept in the database so every worker sees them."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import AppSetting, utcnow

__all__ = ["get_value", "set_value", "default_model", "DEFAULT_MODEL_KEY"]

DEFAULT_MODEL_KEY = "default_model"


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
