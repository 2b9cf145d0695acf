"""The default admin password (`admin`/`administrator`): tolerated for a loopback-only
first start, warned about at every start, and refused when an app listens beyond loopback.

Both apps check the stored hash at start (the tools app reads the shared accounts
database), so changing the password is what silences the warning, not a setting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.identity import users_table
from core.security import verify_password

__all__ = ["DEFAULT_PASSWORD", "DefaultAdminPassword", "is_loopback", "check_default_admin"]

log = logging.getLogger(__name__)

DEFAULT_PASSWORD = "administrator"


class DefaultAdminPassword(RuntimeError):
    """Raised at start (the server exits non-zero) when the default password would be exposed."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name or 0.0.0.0/:: : reachable from elsewhere


async def _uses_default(engine: AsyncEngine, username: str) -> bool:
    users = users_table()
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(users.c.hashed_password, users.c.disabled).where(users.c.username == username)
                )
            ).first()
    except SQLAlchemyError:
        return False  # no accounts yet: the main app checks once it has created them
    if row is None or row.disabled:
        return False
    return await asyncio.to_thread(verify_password, DEFAULT_PASSWORD, str(row.hashed_password))


async def check_default_admin(engine: AsyncEngine, settings: Any, host: str, app_name: str) -> None:
    """Warn while the default admin password works; raise when `host` is not loopback."""
    username = settings.default_admin_username
    if not await _uses_default(engine, username):
        return
    fix = f"change it: `llm-api user passwd {username}` or PATCH /api/admin/users/{username}"
    if not is_loopback(host):
        message = (
            f"refusing to start the {app_name} on {host}: the admin account {username!r} still has the default "
            f"password {DEFAULT_PASSWORD!r}, which anyone who can reach this address could use; {fix}, "
            "or bind 127.0.0.1 until it is changed"
        )
        log.critical(message)
        raise DefaultAdminPassword(message)
    log.warning(
        "%s: the admin account %r still has the default password %r: %s", app_name, username, DEFAULT_PASSWORD, fix
    )
