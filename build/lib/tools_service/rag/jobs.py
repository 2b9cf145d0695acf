"""Upload jobs: a long upload runs in the background and reports its progress.

`POST /upload` with `background=true` answers 202 at once with a job id; the client
polls `GET /jobs/{id}` (optionally long-polling with `wait=<seconds>`, which returns as
soon as the job finishes) and sees `queued` → `running` (chunks embedded so far out of
all) → `done` (the same data a synchronous upload returns) or `failed` (the error
envelope it would have raised; nothing was indexed).

Job states are small JSON files under `DATA_DIR/rag/<user>/.jobs/`, written atomically,
so any worker of the tools app answers a poll, and a user reads only their own jobs.
A job whose worker died stays `running`; its `updated_at` tells the client it stalled.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from core.errors import APIError

__all__ = ["JobStore"]

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
PROGRESS_EVERY_S = 0.5  # at most this often a running job's file is rewritten
KEEP_JOBS_S = 7 * 24 * 3600.0


class JobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._done: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _path(self, user: str, job_id: str) -> Path:
        if not _JOB_ID.match(job_id):
            raise APIError(404, f"job {job_id!r} not found", code="job_not_found")
        return self.root / user / ".jobs" / f"{job_id}.json"

    def _write(self, user: str, job: dict[str, Any]) -> None:
        target = self._path(user, job["id"])
        target.parent.mkdir(parents=True, exist_ok=True)
        job["updated_at"] = time.time()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".job-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(job, fh)
        os.replace(tmp, target)

    def _prune(self, user: str) -> None:
        folder = self.root / user / ".jobs"
        now = time.time()
        for item in folder.glob("*.json") if folder.is_dir() else []:
            if now - item.stat().st_mtime > KEEP_JOBS_S:
                item.unlink(missing_ok=True)

    async def start(
        self,
        user: str,
        collection: str,
        files: list[str],
        work: Callable[[Callable[[int, int], None]], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Run `work(progress)` as a background task; returns the queued job."""
        job: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "status": "queued",
            "collection": collection,
            "files": files,
            "progress": {"chunks_embedded": 0, "chunks_total": None},
            "created_at": time.time(),
        }
        await asyncio.to_thread(self._write, user, dict(job))
        await asyncio.to_thread(self._prune, user)
        self._done[job["id"]] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(user, dict(job), work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(
        self, user: str, job: dict[str, Any], work: Callable[[Callable[[int, int], None]], Awaitable[dict[str, Any]]]
    ) -> None:
        last = 0.0

        def progress(done: int, total: int) -> None:  # called from the embedding thread
            nonlocal last
            job["progress"] = {"chunks_embedded": done, "chunks_total": total}
            if time.monotonic() - last >= PROGRESS_EVERY_S or done == total:
                last = time.monotonic()
                self._write(user, dict(job))

        job["status"] = "running"
        await asyncio.to_thread(self._write, user, dict(job))
        try:
            job["result"] = await work(progress)
            job["status"] = "done"
        except APIError as exc:
            job.update(status="failed", error={"message": exc.message, "code": exc.code, "status": exc.status})
        except Exception as exc:
            job.update(
                status="failed",
                error={"message": f"indexing failed ({type(exc).__name__}); nothing was indexed", "status": 503},
            )
        finally:
            await asyncio.to_thread(self._write, user, dict(job))
            self._done.pop(job["id"], asyncio.Event()).set()

    async def get(self, user: str, job_id: str, wait: float = 0.0) -> dict[str, Any]:
        path = self._path(user, job_id)
        event = self._done.get(job_id)
        if wait > 0 and event is not None:
            try:
                await asyncio.wait_for(event.wait(), wait)
            except TimeoutError:
                pass
        try:
            return json.loads(await asyncio.to_thread(path.read_text))  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise APIError(404, f"job {job_id!r} not found", code="job_not_found") from None

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
