"""Throttle counters directly on a real (SQLite) database: expiry and pruning."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlmodel import select

from app.db import Database, LoginThrottle
from app.services import throttle
from core.errors import APIError
from tests.conftest import make_settings


async def test_counters_expire_and_quiet_keys_are_pruned(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        login_max_failures=2,
        login_failure_window_seconds=0.3,
        login_lockout_seconds=5,
        login_failure_delay=0.0,
    )
    db = Database(settings)
    await db.init()
    try:
        for name in ("a", "b"):
            await throttle.record_failure(db, settings, await throttle.begin_attempt(db, settings, name, "10.0.0.1"))
        # "locked" uses up its budget and is locked for 5 s
        for _ in range(2):
            attempt = await throttle.begin_attempt(db, settings, "locked", "10.0.0.2")
            await throttle.record_failure(db, settings, attempt)
        with pytest.raises(APIError) as err:
            await throttle.begin_attempt(db, settings, "locked", "10.0.0.3")
        assert err.value.status == 429

        await asyncio.sleep(0.4)
        # A quiet key starts over after the window: one failure is counted, not three.
        fresh = await throttle.begin_attempt(db, settings, "a", "10.0.0.9")
        assert fresh.account_failures == 1
        async with db.engine.begin() as conn:
            await throttle._prune(conn, time.time(), settings.login_failure_window_seconds)
        async with db.session() as session:
            keys = {row.key for row in (await session.exec(select(LoginThrottle))).all()}
        assert "user:b" not in keys and "ip:10.0.0.1" not in keys  # quiet: forgotten
        assert "user:locked" in keys  # still locked: kept
        assert "user:a" in keys  # just used
    finally:
        await db.close()
