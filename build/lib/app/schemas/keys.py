"""API key wire models: the key itself appears only in the creation response."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["ApiKeyCreate", "ApiKeyCreated", "ApiKeyPublic"]


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="a label to recognise the key by")


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


class ApiKeyCreated(BaseModel):
    id: str
    name: str
    key: str = Field(description="shown once: only its hash is stored")
    created_at: datetime
