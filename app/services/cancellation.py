"""Stopping a run from any worker or replica, and draining a process that is shutting down.

A run lives in one process's event loop, but a cancel or delete request may reach any
process behind the load balancer. Each run therefore leaves a lease in the database
(`RunLease`: which process runs it); a cancel that finds the run elsewhere records a
`RunCancel` row, and the owner, which polls for cancel rows of its own runs every
`poll` seconds, cancels the run locally (it is then rolled back as usual). The poll costs
one indexed query per interval, and only while this process has runs.

The runner calls `started`/`ended` synchronously (no await inside its run task, so a
cancel can never land between them); the database writes happen in background tasks,
ordered per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from app.db import Database, RunCancel, RunLease
from app.services.runner import Runner
from core import metrics

__all__ = ["Cancellation"]

log = logging.getLogger(__name__)


class Cancellation:
    def __init__(
        self,
        db: Database,
        runner: Runner,
        *,
        poll: float = 0.2,
        lease_ttl: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.runner = runner
        self.poll = poll
        self.lease_ttl = lease_ttl
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self.draining = False
        self._mine: dict[str, str] = {}  # thread id -> run id, runs of this process
        self._writes: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    # -- called by the runner ------------------------------------------------------------
    def started(self, thread_id: str) -> None:
        run_id = uuid.uuid4().hex
        self._mine[thread_id] = run_id
        metrics.RUNS_IN_FLIGHT.inc()
        self._idle.clear()
        self._chain(thread_id, self._write_lease(thread_id, run_id))

    def ended(self, thread_id: str) -> None:
        run_id = self._mine.pop(thread_id, None)
        if run_id is not None:
            metrics.RUNS_IN_FLIGHT.dec()
        if not self._mine:
            self._idle.set()
        if run_id is not None:
            self._chain(thread_id, self._drop_lease(thread_id, run_id))

    def _chain(self, thread_id: str, step: Any) -> None:
        before = self._writes.get(thread_id)

        async def run() -> None:
            if before is not None:
                with contextlib.suppress(BaseException):
                    await before
            try:
                await step
            except Exception:
                log.warning("run lease of %s not updated", thread_id, exc_info=True)

        task = asyncio.get_running_loop().create_task(run())
        self._writes[thread_id] = task
        task.add_done_callback(
            lambda t: self._writes.pop(thread_id, None) if self._writes.get(thread_id) is t else None
        )

    def _upsert(self, table: Any, values: dict[str, Any]) -> Any:
        dialect = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table).values(**values)
        return stmt.on_conflict_do_update(index_elements=["thread_id"], set_=values)

    async def _write_lease(self, thread_id: str, run_id: str) -> None:
        values = {"thread_id": thread_id, "run_id": run_id, "owner": self.owner, "renewed_at": self.clock()}
        async with self.db.session() as db:
            await db.exec(self._upsert(RunLease, values))
            await db.commit()

    async def _drop_lease(self, thread_id: str, run_id: str) -> None:
        async with self.db.session() as db:
            await db.exec(delete(RunLease).where(col(RunLease.thread_id) == thread_id, col(RunLease.run_id) == run_id))
            await db.exec(
                delete(RunCancel).where(col(RunCancel.thread_id) == thread_id, col(RunCancel.run_id) == run_id)
            )
            await db.commit()

    # -- called by the routes ------------------------------------------------------------
    async def _lease(self, thread_id: str) -> RunLease | None:
        async with self.db.read_session() as db:
            lease = await db.get(RunLease, thread_id)
        if lease is None or lease.renewed_at < self.clock() - self.lease_ttl:
            return None
        return lease

    async def is_running(self, thread_id: str) -> bool:
        """Whether the session has a run in progress in any process."""
        return self.runner.is_running(thread_id) or await self._lease(thread_id) is not None

    async def request(self, thread_id: str) -> bool:
        """Ask the session's run to stop, wherever it runs. False when nothing was running."""
        if self.runner.cancel(thread_id):
            return True
        if self.runner.is_running(thread_id):
            return False  # already being cancelled here
        lease = await self._lease(thread_id)
        if lease is None or lease.owner == self.owner:
            return False
        values = {"thread_id": thread_id, "run_id": lease.run_id, "requested_at": self.clock()}
        async with self.db.session() as db:
            await db.exec(self._upsert(RunCancel, values))
            await db.commit()
        return True

    async def stop(self, thread_id: str, timeout: float) -> None:
        """Cancel the session's run wherever it runs and wait, up to `timeout` seconds, until it
        has ended (rolled back), so nothing it writes lands after, say, the session is deleted."""
        if self.runner.is_running(thread_id):
            await self.runner.stop(thread_id, timeout)
            return
        if not await self.request(thread_id):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and await self._lease(thread_id) is not None:  # noqa: ASYNC110
            await asyncio.sleep(self.poll)  # the lease is in the database: polled like the owner polls

    # -- the per-process loop ------------------------------------------------------------
    async def tick(self) -> None:
        """Cancel this process's runs that another process asked to stop."""
        mine = dict(self._mine)
        if not mine:
            return
        async with self.db.read_session() as db:
            rows = (await db.exec(select(RunCancel).where(col(RunCancel.thread_id).in_(list(mine))))).all()
        for row in rows:
            if mine.get(row.thread_id) == row.run_id:
                log.info("run of %s cancelled from another process", row.thread_id)
                self.runner.cancel(row.thread_id)

    async def _renew(self) -> None:
        if not self._mine:
            return
        async with self.db.session() as db:
            await db.exec(update(RunLease).where(col(RunLease.owner) == self.owner).values(renewed_at=self.clock()))
            await db.commit()

    async def _loop(self) -> None:
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.tick()
                if time.monotonic() - renewed > self.lease_ttl / 3:
                    await self._renew()
                    renewed = time.monotonic()
            except Exception:
                log.warning("cancel poll failed", exc_info=True)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Cancellation]:
        task = asyncio.create_task(self._loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for pending in list(self._writes.values()):
                with contextlib.suppress(BaseException):
                    await pending

    async def drain(self, grace: float, cancel_wait: float = 10.0) -> None:
        """Shutting down: let in-flight runs finish for `grace` seconds, then cancel (and so
        roll back) the rest, waiting up to `cancel_wait` seconds for their clean-up."""
        self.draining = True
        if self._mine:
            log.info("draining: %d run(s) in flight, waiting up to %.0f s", len(self._mine), grace)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        left = list(self._mine)
        if left:
            log.warning("draining: cancelling %d run(s) still in flight", len(left))
            for thread_id in left:
                self.runner.cancel(thread_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), cancel_wait)
