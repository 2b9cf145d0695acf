"""Login throttling over real HTTP: a password-guessing run gets a bounded number of checks.

Small limits (3 per account, 6 per address, 2 s lock) keep the test fast; the client
address is varied with `X-Forwarded-For`, which uvicorn trusts from 127.0.0.1 only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import ManualClock, Platform, serve_platform
from tests.scripted_llm import ScriptedLLM

MAX_FAILURES = 3
MAX_PER_IP = 6
LOCK_SECONDS = 2.0
DELAY = 0.05


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def guarded(data_dir: Path, llm_server: ScriptedLLM, clock: ManualClock) -> Iterator[Platform]:
    with serve_platform(
        data_dir,
        llm_server,
        clock=clock,
        login_max_failures=MAX_FAILURES,
        login_max_failures_per_ip=MAX_PER_IP,
        login_lockout_seconds=LOCK_SECONDS,
        login_failure_delay=DELAY,
        login_failure_max_delay=0.5,
    ) as p:
        yield p


def attempt(p: Platform, username: str, password: str, ip: str = "198.51.100.1") -> httpx.Response:
    return httpx.post(
        p.url + "/api/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": ip},
        timeout=30,
    )


def test_guessing_one_account_is_bounded_then_locked(guarded: Platform, clock: ManualClock) -> None:
    guarded.signup("alice", "alice-secret-pw")
    guarded.signup("bob", "bob-secret-pw")
    started = time.monotonic()
    statuses = [attempt(guarded, "alice", f"guess-{i}").status_code for i in range(20)]
    elapsed = time.monotonic() - started
    # Exactly MAX_FAILURES passwords were checked; every later guess was refused unchecked.
    assert statuses.count(401) == MAX_FAILURES
    assert statuses[:MAX_FAILURES] == [401] * MAX_FAILURES
    assert set(statuses[MAX_FAILURES:]) == {429}
    # and the checked failures were slowed down (0.05 + 0.1 + 0.2 s)
    assert elapsed >= DELAY * (1 + 2 + 4)

    locked = attempt(guarded, "alice", "alice-secret-pw")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "login_throttled"
    assert 1 <= int(locked.headers["Retry-After"]) <= LOCK_SECONDS + 1

    # Other accounts, from the same address, are unaffected.
    assert attempt(guarded, "bob", "bob-secret-pw").status_code == 200
    # The lock holds until the clock passes it, however slow the machine is.
    clock.advance(LOCK_SECONDS - 0.5)
    assert attempt(guarded, "alice", "alice-secret-pw").status_code == 429
    clock.advance(0.7)
    assert attempt(guarded, "alice", "alice-secret-pw").status_code == 200
    # A success clears the account's counter: a typo afterwards is an ordinary 401.
    assert attempt(guarded, "alice", "typo").status_code == 401
    assert attempt(guarded, "alice", "alice-secret-pw").status_code == 200


def test_a_second_lockout_lasts_longer(guarded: Platform, clock: ManualClock) -> None:
    guarded.signup("carol", "carol-secret-pw")
    for i in range(MAX_FAILURES):
        assert attempt(guarded, "carol", f"g{i}").status_code == 401
    first = int(attempt(guarded, "carol", "x").headers["Retry-After"])
    clock.advance(LOCK_SECONDS + 0.2)
    for i in range(MAX_FAILURES):
        assert attempt(guarded, "carol", f"h{i}").status_code == 401
    second = int(attempt(guarded, "carol", "x").headers["Retry-After"])
    assert second > first


def test_guessing_across_accounts_from_one_address_is_bounded(guarded: Platform) -> None:
    guarded.signup("dave", "dave-secret-pw")
    attacker = "203.0.113.7"
    statuses = [attempt(guarded, f"user{i}", "password123", ip=attacker).status_code for i in range(15)]
    assert statuses.count(401) == MAX_PER_IP
    assert set(statuses[MAX_PER_IP:]) == {429}
    # The address is locked for everyone behind it, even with a right password...
    assert attempt(guarded, "dave", "dave-secret-pw", ip=attacker).status_code == 429
    # ...but not for other addresses.
    assert attempt(guarded, "dave", "dave-secret-pw", ip="192.0.2.44").status_code == 200


def test_concurrent_guesses_cannot_race_past_the_limit(guarded: Platform) -> None:
    guarded.signup("erin", "erin-secret-pw")
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda i: attempt(guarded, "erin", f"p{i}", ip=f"192.0.2.{i}").status_code, range(24)))
    assert statuses.count(401) <= MAX_FAILURES
    assert statuses.count(429) >= 24 - MAX_FAILURES
    assert 200 not in statuses


def test_unknown_accounts_are_throttled_like_real_ones(guarded: Platform) -> None:
    """The same answers for a name that does not exist: throttling reveals no usernames."""
    statuses = [attempt(guarded, "nobody-here", f"g{i}", ip="192.0.2.200").status_code for i in range(5)]
    assert statuses == [401] * MAX_FAILURES + [429] * (5 - MAX_FAILURES)
