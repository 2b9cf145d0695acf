"""Login throttling: per account and per client address, shared by every worker.

Why the database and not memory: `llm-api serve` may run several workers, and a guessing
run spread over them must meet one limit. Each attempt is *reserved* before the password
is checked (one atomic upsert per key), so even many guesses sent at once cannot get more
than `LOGIN_MAX_FAILURES` password checks per account in a window:

1. Upsert `user:<name>` and `ip:<address>`: count the attempt, return the count and lock.
2. Locked, or the count is over the limit -> 429 with `Retry-After`, password not checked.
3. Wrong password: the answer is delayed (doubling per failure, capped), and the failure
   that uses up the budget locks the key for `LOGIN_LOCKOUT_SECONDS`, doubled for each
   further lockout in a row (at most 16x).
4. Right password: the account's counter is cleared and the address's reservation
   returned, so successful logins are never slowed down.

A lock expiring gives a fresh budget; a key quiet for `LOGIN_FAILURE_WINDOW_SECONDS`
is forgotten. Addresses get a larger budget than accounts (people share NATs). The
trade-off of any lockout: someone can lock an account by guessing at it; the lock is
short and an admin is unaffected by another account's lock.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import Database, LoginThrottle, insert_into
from core.errors import APIError
from settings import Settings

__all__ = ["Attempt", "begin_attempt", "count_signup", "record_failure", "record_success"]

_TABLE = LoginThrottle.__table__  # type: ignore[attr-defined]
_MAX_ESCALATION = 4  # lockout doubles at most 4 times: 16x the base
_PRUNE_EVERY = 200  # attempts per process between deletions of forgotten counters
_attempts = 0


@dataclass
class Attempt:
    """One reserved login attempt: the keys it counted against and their counts."""

    account_key: str
    ip_key: str
    account_failures: int
    ip_failures: int


def _keys(username: str, client_ip: str) -> tuple[str, str]:
    return f"user:{username.strip().lower()[:64]}", f"ip:{client_ip[:64]}"


async def _count(conn: AsyncConnection, key: str, now: float, window: float) -> tuple[int, float]:
    """Atomically count one attempt against `key`; return (failures, locked_until)."""
    t = _TABLE
    last = case((t.c.locked_until > t.c.window_start, t.c.locked_until), else_=t.c.window_start)
    stale = last < now - window
    unlocked = and_(t.c.locked_until > 0, t.c.locked_until <= now)
    fresh = stale | unlocked
    stmt = (
        insert_into(conn.dialect.name, t)
        .values(key=key, failures=1, window_start=now, locked_until=0.0, lockouts=0)
        .on_conflict_do_update(
            index_elements=[t.c.key],
            set_={
                "failures": case((fresh, 1), else_=t.c.failures + 1),
                "window_start": case((fresh, now), else_=t.c.window_start),
                "locked_until": case((fresh, 0.0), else_=t.c.locked_until),
                "lockouts": case((stale, 0), else_=t.c.lockouts),
            },
        )
        .returning(t.c.failures, t.c.locked_until)
    )
    row = (await conn.execute(stmt)).one()
    return int(row[0]), float(row[1])


async def _lock(conn: AsyncConnection, key: str, now: float, base: float) -> float:
    """Lock `key`, escalating with each lockout in a row; return the unlock time."""
    t = _TABLE
    row = (await conn.execute(t.select().where(t.c.key == key))).one()
    until = now + base * (2 ** min(int(row.lockouts), _MAX_ESCALATION))
    await conn.execute(update(t).where(t.c.key == key).values(locked_until=until, lockouts=t.c.lockouts + 1))
    return until


def _throttled(until: float, now: float) -> APIError:
    wait = max(1, math.ceil(until - now))
    return APIError(
        429,
        f"too many failed logins: try again in {wait} s",
        code="login_throttled",
        headers={"Retry-After": str(wait)},
    )


async def _prune(conn: AsyncConnection, now: float, window: float) -> None:
    """Forget quiet, unlocked keys, so guessing random names cannot grow the table forever."""
    t = _TABLE
    await conn.execute(delete(t).where(and_(t.c.window_start < now - window, t.c.locked_until < now)))


async def begin_attempt(
    db: Database, settings: Settings, username: str, client_ip: str, now: float | None = None
) -> Attempt:
    """Reserve an attempt, or raise 429 when the account or the address is locked."""
    global _attempts
    account_key, ip_key = _keys(username, client_ip)
    now = time.time() if now is None else now
    window = settings.login_failure_window_seconds
    _attempts += 1
    async with db.engine.begin() as conn:
        if _attempts % _PRUNE_EVERY == 0:
            await _prune(conn, now, window)
        account_failures, account_until = await _count(conn, account_key, now, window)
        ip_failures, ip_until = await _count(conn, ip_key, now, window)
        until = max(account_until, ip_until)
        if until > now:
            raise _throttled(until, now)
        # Over budget without a lock yet: concurrent guesses raced past the last failure.
        if account_failures > settings.login_max_failures:
            raise _throttled(await _lock(conn, account_key, now, settings.login_lockout_seconds), now)
        if ip_failures > settings.login_max_failures_per_ip:
            raise _throttled(await _lock(conn, ip_key, now, settings.login_lockout_seconds), now)
    return Attempt(account_key, ip_key, account_failures, ip_failures)


async def record_failure(db: Database, settings: Settings, attempt: Attempt, now: float | None = None) -> None:
    """Lock a key whose budget this failure used up, then wait: guessing gets slower.
    `now` (like `begin_attempt`'s) comes from the app's clock, which tests control."""
    now = time.time() if now is None else now
    async with db.engine.begin() as conn:
        if attempt.account_failures >= settings.login_max_failures:
            await _lock(conn, attempt.account_key, now, settings.login_lockout_seconds)
        if attempt.ip_failures >= settings.login_max_failures_per_ip:
            await _lock(conn, attempt.ip_key, now, settings.login_lockout_seconds)
    delay = settings.login_failure_delay * 2 ** (max(attempt.account_failures, 1) - 1)
    await asyncio.sleep(min(delay, settings.login_failure_max_delay))


async def record_success(db: Database, attempt: Attempt) -> None:
    """Clear the account's counter and hand back the address's reservation."""
    t = _TABLE
    async with db.engine.begin() as conn:
        await conn.execute(delete(t).where(t.c.key == attempt.account_key))
        await conn.execute(
            update(t).where(and_(t.c.key == attempt.ip_key, t.c.failures > 0)).values(failures=t.c.failures - 1)
        )


async def count_signup(db: Database, settings: Settings, client_ip: str, now: float | None = None) -> None:
    """Count a sign-up from `client_ip`; raise 429 past `SIGNUP_MAX_PER_IP` in the window.

    Same table and upsert as login failures (key `signup:<address>`), so every worker
    shares the count; `now` is injectable for tests. Counted before the password is
    hashed, so a burst of sign-ups is also cheap to refuse."""
    now = time.time() if now is None else now
    key = f"signup:{client_ip[:64]}"
    window = settings.signup_window_seconds
    async with db.engine.begin() as conn:
        count, _ = await _count(conn, key, now, window)
        if count <= settings.signup_max_per_ip:
            return
        started = (await conn.execute(_TABLE.select().where(_TABLE.c.key == key))).one().window_start
    wait = max(1, math.ceil(float(started) + window - now))
    raise APIError(
        429,
        f"too many accounts created from this address: try again in {wait} s",
        code="signup_throttled",
        headers={"Retry-After": str(wait)},
    )
