"""`stop` sequences on agent answers: the answer ends before the first one, streaming too.

Agents make many model calls (routing, planning, tools); a stop sequence sent to every one
of them would cut their internal JSON, so it applies to the answer the client sees instead.
While streaming, text that could be the start of a stop sequence is held back until it is
clear. The turn stored in the session keeps the model's full answer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from app.services.run_types import RunEvent, RunHandle, RunResult

__all__ = ["StopFilter", "StoppingHandle", "cut"]


def cut(text: str, stops: list[str]) -> tuple[str, bool]:
    """`text` up to the first stop sequence, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


class StopFilter:
    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """What of `text` may be sent now."""
        if self.stopped:
            return ""
        self.buffer += text
        before, hit = cut(self.buffer, self.stops)
        if hit:
            self.stopped, self.buffer = True, ""
            return before
        ready = self.buffer[: len(self.buffer) - self.hold] if self.hold else self.buffer
        self.buffer = self.buffer[len(ready) :]
        return ready

    def flush(self) -> str:
        out, self.buffer = ("" if self.stopped else self.buffer), ""
        return out


@dataclass
class StoppingHandle(RunHandle):
    """A run's handle whose answer (streamed and final) ends before the first stop sequence."""

    stops: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._filter = StopFilter(self.stops)
        self._pending: deque[RunEvent] = deque()

    def _shape(self, event: RunEvent) -> list[RunEvent]:
        if event.kind == "content":
            text = self._filter.feed(event.text)
            return [RunEvent("content", text)] if text else []
        if event.kind == "done":
            rest = self._filter.flush()
            result: RunResult = event.data["result"]
            result.answer, hit = cut(result.answer, self._filter.stops)
            if hit:
                result.finish_reason = "stop"
            return [*([RunEvent("content", rest)] if rest else []), event]
        return [event]

    async def next(self, timeout: float | None = None) -> RunEvent | None:
        while not self._pending:
            event = await super().next(timeout)
            if event is None:
                return None
            self._pending.extend(self._shape(event))
        return self._pending.popleft()
