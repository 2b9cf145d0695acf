"""Stopping a run from any worker or replica, and draining a process that is shutting down.

A run lives in one process's event loop, but a cancel or delete request may reach any
process behind the load balancer. Each run therefore leaves a lease in the database
(`RunLease`: which process runs it); a cancel that finds the run elsewhere records a
`RunCancel` row, and the owner, which polls for cancel rows of its own runs every
`poll` seconds, cancels the run locally (it is then rolled back as usual). The poll costs
one indexed query per interval, and only while this process has runs.

The runner calls `started`/`ended` synchronously (no await inside its run task, so a
cancel can never land between them). Lease writes are batched: the poll loop writes the
leases of runs started since its last round and drops those of runs that ended, in one
transaction; a round writes only runs that were already running at the round before, so a
run shorter than one poll interval (most chat turns) never touches the database for its
lease: the writes had cost more CPU than the rest of a turn's bookkeeping. The price:
another process sees a run only once its lease is written (within two intervals of its
start), so a cancel or a delete that finds no lease waits two intervals and looks again
before it concludes that nothing runs.
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
from sqlmodel import col, select

from app.db import Database, RunCancel, RunLease, insert_into
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
        self._unwritten: dict[str, str] = {}  # runs whose lease is not in the database yet
        self._seen: dict[str, str] = {}  # unwritten runs the last round saw: the next one writes them
        self._written: dict[str, str] = {}  # runs whose lease is written (or being written)
        self._to_drop: list[tuple[str, str]] = []  # leases of ended runs, to delete
        self._flush_lock = asyncio.Lock()
        self._dropping: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # -- called by the runner ------------------------------------------------------------
    def started(self, thread_id: str) -> None:
        run_id = uuid.uuid4().hex
        self._mine[thread_id] = run_id
        self._unwritten[thread_id] = run_id
        metrics.RUNS_IN_FLIGHT.inc()
        self._idle.clear()

    def ended(self, thread_id: str) -> None:
        run_id = self._mine.pop(thread_id, None)
        if run_id is not None:
            metrics.RUNS_IN_FLIGHT.dec()
        if not self._mine:
            self._idle.set()
        if self._unwritten.get(thread_id) == run_id:
            del self._unwritten[thread_id]  # never written: nothing to drop
        elif run_id is not None and self._written.get(thread_id) == run_id:
            del self._written[thread_id]
            self._to_drop.append((thread_id, run_id))
            self._drop_soon()  # others see it running until the drop: not one round late

    def _drop_soon(self) -> None:
        if self._dropping is None or self._dropping.done():
            self._dropping = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception:  # the poll loop tries again
            log.warning("run leases not updated", exc_info=True)

    def _upsert(self, table: Any, values: dict[str, Any]) -> Any:
        stmt = insert_into(self.db.engine.dialect.name, table).values(**values)
        return stmt.on_conflict_do_update(index_elements=["thread_id"], set_=values)

    async def flush(self, *, aged_only: bool = False) -> None:
        """Write the leases of new runs and drop those of ended ones, in one transaction.
        `aged_only` (the poll loop): write only runs the previous round already saw."""
        async with self._flush_lock:
            if aged_only:
                writes = {t: r for t, r in self._unwritten.items() if self._seen.get(t) == r}
                self._unwritten = {t: r for t, r in self._unwritten.items() if t not in writes}
                self._seen = dict(self._unwritten)
            else:
                writes, self._unwritten = self._unwritten, {}
            if not writes and not self._to_drop:
                return
            drops, self._to_drop = self._to_drop, []
            self._written.update(writes)  # a run ending from here on queues its drop
            try:
                async with self.db.session() as db:
                    for thread_id, run_id in drops:  # first: a new run of the thread may follow
                        await db.exec(
                            delete(RunLease).where(col(RunLease.thread_id) == thread_id, col(RunLease.run_id) == run_id)
                        )
                        await db.exec(
                            delete(RunCancel).where(
                                col(RunCancel.thread_id) == thread_id, col(RunCancel.run_id) == run_id
                            )
                        )
                    now = self.clock()
                    for thread_id, run_id in writes.items():
                        values = {"thread_id": thread_id, "run_id": run_id, "owner": self.owner, "renewed_at": now}
                        await db.exec(self._upsert(RunLease, values))
                    await db.commit()
            except Exception:
                # Put them back for the next round. A run that ended meanwhile has already
                # queued its drop (`ended` found it written), so only the live ones return.
                for thread_id, run_id in writes.items():
                    if self._written.get(thread_id) == run_id:
                        del self._written[thread_id]
                        self._unwritten.setdefault(thread_id, run_id)
                        self._seen[thread_id] = run_id  # aged already: the next round writes it
                self._to_drop[:0] = drops
                raise

    async def one_round(self) -> None:
        """Wait until another process has written the lease of a run it had when we first
        looked: two of its poll intervals (tests wait for an event)."""
        await asyncio.sleep(2 * self.poll)

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
        if lease is None:  # a run elsewhere writes its lease within two poll intervals
            await self.one_round()
            if self.runner.cancel(thread_id):
                return True
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
        """Cancel this process's runs that another process asked to stop (only runs whose
        lease is written can have been found by another process)."""
        mine = {t: r for t, r in self._written.items() if self._mine.get(t) == r}
        if not mine:
            return
        async with self.db.read_session() as db:
            rows = (await db.exec(select(RunCancel).where(col(RunCancel.thread_id).in_(list(mine))))).all()
        for row in rows:
            if mine.get(row.thread_id) == row.run_id:
                log.info("run of %s cancelled from another process", row.thread_id)
                self.runner.cancel(row.thread_id)

    async def _renew(self) -> None:
        if not self._written:
            return
        async with self.db.session() as db:
            await db.exec(update(RunLease).where(col(RunLease.owner) == self.owner).values(renewed_at=self.clock()))
            await db.commit()

    async def _loop(self) -> None:
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.flush(aged_only=True)
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
            if self._dropping is not None:
                with contextlib.suppress(BaseException):
                    await self._dropping
            with contextlib.suppress(Exception):  # drop the leases of the runs that ended
                await self.flush()

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
