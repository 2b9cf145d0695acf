"""What a run is made of: its request, its events, its result, the handle that streams it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.schemas.openai import ChatMessageIn, Usage
from core.errors import APIError
from core.observability import LLMCallLogger
from graphs.deps import AgentContext

__all__ = ["RunRequest", "RunEvent", "RunResult", "RunHandle", "RunLifecycle", "UsageLogger", "cancel_once"]


@dataclass
class RunRequest:
    agent: str
    messages: list[ChatMessageIn]
    context: AgentContext
    # Runs after the graph has finished and before `done` is announced: what must be stored
    # with the turn (session index, idempotency record). If it fails, the turn is rolled
    # back and the client gets the error, so a reported failure never leaves a stored turn.
    on_commit: Callable[[RunResult], Awaitable[None]] | None = None
    # Runs after a failed or cancelled turn has been rolled back (e.g. to release its key).
    on_failure: Callable[[], Awaitable[None]] | None = None
    # False when the caller takes the whole answer at once: the model's tokens are then not
    # streamed through the graph (LangGraph's `messages` mode costs CPU on every chunk).
    stream_tokens: bool = True
    # A thread just created (its session row inserted by this request): nothing to read back.
    new_thread: bool = False


class RunLifecycle(Protocol):
    """Told when a run starts and ends (synchronously: it must not await), e.g. to record
    the run in the database so another replica can cancel it."""

    def started(self, thread_id: str) -> None: ...
    def ended(self, thread_id: str) -> None: ...


@dataclass
class RunEvent:
    kind: str  # content | reasoning | error | done
    text: str = ""
    error: APIError | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    answer: str = ""
    usage: Usage = field(default_factory=Usage)
    steps: list[dict[str, Any]] = field(default_factory=list)
    message_count: int = 0
    messages: list[Any] = field(default_factory=list, repr=False)  # the window after the turn
    finish_reason: str = "stop"  # the final answer's, from the backend ("length" when max_tokens cut it)
    # The caller's tools to run (OpenAI format): the run paused for them (finish_reason "tool_calls").
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunHandle:
    """A running request: its event queue and its task. Closing it cancels the run."""

    queue: asyncio.Queue[RunEvent]
    task: asyncio.Task[None]

    async def next(self, timeout: float | None = None) -> RunEvent | None:
        """The next event, or None if none came within `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    async def __aiter__(self) -> AsyncIterator[RunEvent]:
        """Events until `done` or `error`, through `next` (which wrapping handles override)."""
        while True:
            event = await self.next()
            assert event is not None  # no timeout: `next` waits for an event
            yield event
            if event.kind in ("done", "error"):
                return

    def cancel(self) -> None:
        cancel_once(self.task)

    async def close(self) -> None:
        """Cancel the run and wait for its clean-up. Shielded: if the caller is itself being
        cancelled (a client that hung up), that must not cancel the run a second time."""
        self.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(self.task)


def cancel_once(task: asyncio.Task[None]) -> bool:
    """Cancel a run at most once. A second cancel landing while LangGraph is cleaning up
    after the first interrupts that clean-up, and a running tool call is then left to finish
    on its own (its sandboxed code included) instead of being cancelled with the run."""
    if task.done() or task.cancelling():
        return False
    task.cancel()
    return True


class UsageLogger(LLMCallLogger):
    """Per-run LLM call log that also totals the token usage of every call in the run."""

    def __init__(self, backend: str) -> None:
        super().__init__(backend)
        self.usage = Usage()

    def count(self, usage: dict[str, int]) -> None:
        self.usage.prompt_tokens += usage.get("input_tokens", 0)
        self.usage.completion_tokens += usage.get("output_tokens", 0)
        self.usage.total_tokens = self.usage.prompt_tokens + self.usage.completion_tokens
