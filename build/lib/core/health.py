"""Liveness, readiness and `/metrics` for both apps, and the drain flag that SIGTERM sets.

The load balancer polls `/health/ready`: it answers 503 while the process is draining
(SIGTERM received: finish what is in flight, take nothing new) or while the database does
not answer, so traffic moves to another replica. `/health/live` only says the event loop
runs: a replica whose database is down is not ready, but restarting it would not help.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from core import metrics

__all__ = ["Drain", "install_health"]

log = logging.getLogger(__name__)


@dataclass
class Drain:
    """Whether this process is shutting down, and what to do when it starts to."""

    draining: bool = False
    on_drain: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def begin(self) -> None:
        if self.draining:
            return
        self.draining = True
        log.info("draining: readiness is now false")
        for hook in self.on_drain:
            task = asyncio.get_running_loop().create_task(hook())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def install_sigterm(self) -> None:
        """Chain onto the server's own SIGTERM handler (uvicorn's stops accepting and then
        waits for open requests): this one flips readiness and starts the drain hooks first.
        Only possible in the main thread; an app served from a test thread skips it."""
        loop = asyncio.get_running_loop()
        try:
            previous = signal.getsignal(signal.SIGTERM)
        except ValueError:
            return

        def handler(signum: int, frame: Any) -> None:
            loop.call_soon_threadsafe(self.begin)
            if callable(previous):
                previous(signum, frame)

        try:
            signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread
            return


def install_health(app: FastAPI, name: str, drain: Drain, check_db: Callable[[], Awaitable[None]]) -> None:
    """Add `/health/live`, `/health/ready` and `/metrics` to `app` (no authentication: they
    carry no user data; keep the ports off the public network or filter these paths)."""

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, Any]:
        return {"status": "ok", "service": name}

    @app.get("/health/ready", tags=["health"], response_model=None)
    async def ready() -> dict[str, Any] | JSONResponse:
        if drain.draining:
            return JSONResponse({"status": "draining", "service": name}, status_code=503)
        try:
            await asyncio.wait_for(check_db(), 2.0)
        except Exception as exc:
            log.warning("not ready: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"status": "database unreachable", "service": name}, status_code=503)
        return {"status": "ready", "service": name}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)
