"""Run leases (app/services/cancellation.py) are written in batches by the poll loop: a run
that ends before the next round never touches the database; a longer one is visible to other
processes, which can cancel it, and its lease is dropped once it ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from app.db import Database, RunCancel, RunLease
from app.services.cancellation import Cancellation
from app.services.runner import Runner
from tests.conftest import make_settings


async def _leases(db: Database) -> dict[str, str]:
    async with db.read_session() as s:
        return {r.thread_id: r.run_id for r in (await s.exec(select(RunLease))).all()}


async def test_leases_are_batched_and_a_short_run_writes_none(data_dir: Path) -> None:
    db = Database(make_settings(data_dir))
    await db.init()
    statements: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    owner = Cancellation(db, Runner({}, "test"), poll=0.01)
    try:
        owner.started("short")
        owner.ended("short")
        await owner.flush()
        assert statements == []  # started and ended within one round: no lease written or dropped

        owner.started("long")
        assert await _leases(db) == {}  # not yet: the next round writes it
        await owner.flush()
        first_run = owner._mine["long"]
        assert await _leases(db) == {"long": first_run}
        owner.ended("long")
        owner.started("long")  # the session's next turn, before the old lease is dropped
        await owner.flush()
        assert await _leases(db) == {"long": owner._mine["long"]} != {"long": first_run}
        owner.ended("long")
        await owner.flush()
        assert await _leases(db) == {}
    finally:
        await db.close()


async def test_a_round_writes_only_runs_the_round_before_saw(data_dir: Path) -> None:
    """The poll loop's rounds: a run shorter than one interval writes nothing, whenever it
    falls between two rounds; one still running at the second round is written then."""
    db = Database(make_settings(data_dir))
    await db.init()
    statements: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    owner = Cancellation(db, Runner({}, "test"), poll=0.01)
    try:
        owner.started("short")
        await owner.flush(aged_only=True)  # a round falls inside the short run
        owner.ended("short")
        await owner.flush(aged_only=True)
        assert statements == []  # never written, so nothing to drop either

        owner.started("long")
        await owner.flush(aged_only=True)  # the round after its start: seen, not written
        assert await _leases(db) == {}
        await owner.flush(aged_only=True)  # the next round: it has run a whole interval
        assert await _leases(db) == {"long": owner._mine["long"]}
        owner.ended("long")
        await owner.flush(aged_only=True)
        assert await _leases(db) == {}
    finally:
        await db.close()


async def test_a_cancel_from_another_process_waits_one_round_for_a_new_run(data_dir: Path) -> None:
    db = Database(make_settings(data_dir))
    await db.init()
    owner = Cancellation(db, Runner({}, "test"), poll=0.05)
    other = Cancellation(db, Runner({}, "test"), poll=0.05)
    try:
        waiting, round_done = asyncio.Event(), asyncio.Event()

        async def one_round() -> None:  # the other process's wait for one round, as an event
            waiting.set()
            await round_done.wait()

        other.one_round = one_round  # type: ignore[method-assign]
        owner.started("t")  # its lease is not written yet when the cancel arrives elsewhere
        asked = asyncio.create_task(other.request("t"))
        await waiting.wait()  # it found no lease and waits one round
        await owner.flush()  # the owner's round writes the lease
        round_done.set()
        assert await asked is True
        async with db.read_session() as s:
            cancels = (await s.exec(select(RunCancel))).all()
        assert [(c.thread_id, c.run_id) for c in cancels] == [("t", owner._mine["t"])]
        round_done.set()
        assert await other.request("nothing-here") is False  # still none after the round
    finally:
        await db.close()
