"""Background segment merges: the number of segments stays bounded without any upload
paying for it.

After each commit the engine calls `schedule`; if the merge policy (`store.plan_merge`)
picks segments and no merge of that collection is running in this process, one starts
as an asyncio task. The merged segment is built in a worker thread with no lock held
(segments are immutable, so readers and uploads go on), and only the swap is committed
under the collection's locks. A document deleted meanwhile stays tombstoned in the
merged segment; if another worker merged the same segments first, this merge is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from settings import Settings
from tools_service.rag import merge_policy, store


class Collections(Protocol):
    """What the merger needs of the engine (a protocol, so the two modules do not import each other)."""

    settings: Settings

    async def _snapshot(self, user: str, name: str) -> tuple[Path, store.Snapshot]: ...

    async def _commit(
        self, user: str, name: str, snap: store.Snapshot, change: Callable[[store.Snapshot], store.Snapshot]
    ) -> None: ...


__all__ = ["Merger"]

log = logging.getLogger(__name__)


class Merger:
    def __init__(self, engine: Collections) -> None:
        self.engine = engine
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.merges = 0  # merges committed by this process (for tests and benchmarks)

    def _plan(self, snap: store.Snapshot, *, everything: bool = False) -> list[str] | None:
        if everything:
            dirty = len(snap.views) > 1 or any(v.deleted for v in snap.views)
            return [v.segment.name for v in snap.views] if dirty else None
        s = self.engine.settings
        return merge_policy.plan_merge(snap, s.rag_merge_factor, s.rag_merge_floor_rows, s.rag_purge_ratio)

    def schedule(self, user: str, name: str) -> None:
        key = (user, name)
        running = self._tasks.get(key)
        if running is None or running.done():
            self._tasks[key] = asyncio.get_running_loop().create_task(self._run(user, name))

    async def _run(self, user: str, name: str) -> None:
        try:
            while await self.merge_once(user, name):
                pass
        except Exception:  # a merge is an optimisation: the collection stays valid without it
            log.exception("background merge of %s/%s failed", user, name)

    async def merge_once(self, user: str, name: str, *, everything: bool = False) -> bool:
        """One merge if the policy (or `everything`) asks for one; True if one was committed."""
        engine = self.engine
        path, snap = await engine._snapshot(user, name)
        names = self._plan(snap, everything=everything)
        if not names:
            return False
        tmp, merged = await asyncio.to_thread(merge_policy.build_merged, path, snap, names)
        done = False

        def swap(current: store.Snapshot) -> store.Snapshot:
            nonlocal done
            result = merge_policy.commit_merge(path, current, names, tmp, merged)
            done = result is not current
            return result

        try:
            await engine._commit(user, name, snap, swap)
        finally:
            if tmp is not None and tmp.exists():  # not committed
                await asyncio.to_thread(shutil.rmtree, tmp, True)
        if done:
            self.merges += 1
            log.info("merged %d segments of %s/%s", len(names), user, name)
        return done

    async def optimize(self, user: str, name: str) -> None:
        """Merge every segment into one, dropping deleted documents physically."""
        running = self._tasks.get((user, name))
        if running is not None:
            await asyncio.shield(running)
        await self.merge_once(user, name, everything=True)

    def running(self, user: str, name: str) -> bool:
        """True while a background merge of the collection is scheduled or running here."""
        task = self._tasks.get((user, name))
        return task is not None and not task.done()

    async def wait(self, user: str, name: str) -> None:
        running = self._tasks.get((user, name))
        if running is not None:
            await asyncio.shield(running)

    async def close(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
