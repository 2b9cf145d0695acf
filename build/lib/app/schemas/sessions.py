"""What the session routes answer with."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

__all__ = ["SessionPublic"]


class SessionPublic(BaseModel):
    id: str
    title: str
    agent: str
    created_at: datetime
    updated_at: datetime
    message_count: int
