"""Accounts in the shared database for tests that drive the tools app without the main app.

The tools app accepts a user's token only while the account exists and is enabled
(`tools_service.auth`), so a test acting as "alice" needs an "alice" row, made here
with the main app's own table definitions.
"""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlmodel import Session, SQLModel

from app.db import User
from settings import Settings

__all__ = ["ensure_account"]


def ensure_account(settings: Settings, user_id: str, *, role: str = "user") -> None:
    """Create the tables if needed and an enabled account whose id (and username) is `user_id`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.db_url)
    try:
        SQLModel.metadata.create_all(engine)
        with Session(engine) as db:
            if db.get(User, user_id) is None:
                db.add(User(id=user_id, username=user_id, role=role, hashed_password="!"))
                db.commit()
    finally:
        engine.dispose()
