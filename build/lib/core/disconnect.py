"""Noticing that an HTTP client hung up while its request is still being worked on.

Starlette tells a handler only when it asks; a run that streams nothing for a while (a tool
is running) or returns one JSON body at the end would otherwise go on for nobody. Once the
request body has been read, the next ASGI message can only be the disconnect, so waiting for
it costs nothing until it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

__all__ = ["until_disconnected", "unless_disconnected"]

T = TypeVar("T")


async def until_disconnected(request: Request) -> None:
    """Return when the client has gone (call only after the body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """`await work`, or cancel it and return None if the client hangs up first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        return await task
    return None
