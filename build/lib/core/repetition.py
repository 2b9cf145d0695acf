"""Stop a model that is looping: the same block of words, over and over, until max_tokens.

Small models (the embedded SmolLM2-135M) fall into loops; one `ultrawork` report ran to
3,351 tokens of repetition in two minutes. `RepetitionGuard` is mixed into the chat model
classes `core.llm` builds: it watches the streamed text and, once the tail is the same
block repeated, stops reading the backend's stream (closing it, which stops generation on
llama.cpp and Ollama) and ends the message with what was produced and
`finish_reason: "length"`, as a token limit would. Plain-text calls stream from the backend
even when the caller does not stream (`ainvoke` outside a streaming run), so the guard sees
every answer; structured-output and tool-calling calls are left to the backend (a grammar
and `max_tokens` bound them).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

__all__ = ["RepetitionDetector", "RepetitionGuard", "STOP_REASON"]

log = logging.getLogger(__name__)

STOP_REASON = "repetition"


class RepetitionDetector:
    """Feed it text as it streams; `feed` turns True once the text ends in a loop.

    A loop is a block of 1..`max_block` words repeated back to back, spanning at least
    `min_span` words and at least `min_repeats` copies: a one-word block must repeat 40
    times, an 8-word block 5 times, a sentence or paragraph of 14 words or more 3 times.
    Ordinary prose, code and tables do not repeat a whole block word for word like that.
    """

    def __init__(self, *, min_repeats: int = 3, min_span: int = 40, max_block: int = 200) -> None:
        self.min_repeats = min_repeats
        self.min_span = min_span
        self.max_block = max_block
        self.words: list[str] = []
        self._partial = ""
        self.looping = False

    def feed(self, text: str) -> bool:
        if self.looping or not text:
            return self.looping
        parts = (self._partial + text).split()
        complete = parts if text[-1].isspace() else parts[:-1]
        self._partial = "" if text[-1].isspace() else (parts[-1] if parts else "")
        for word in complete:
            self.words.append(word)
            if self._ends_in_loop():
                self.looping = True
                break
        return self.looping

    def _repeats_for(self, block: int) -> int:
        return max(self.min_repeats, -(-self.min_span // block))

    def _ends_in_loop(self) -> bool:
        words, n = self.words, len(self.words)
        last = words[-1]
        for block in range(1, min(self.max_block, n // self.min_repeats) + 1):
            if words[n - 1 - block] != last:
                continue
            repeats = self._repeats_for(block)
            if block * repeats > n:
                continue
            tail = words[n - block :]
            if all(words[n - (k + 1) * block : n - k * block] == tail for k in range(1, repeats)):
                return True
        return False


def _stop_chunk() -> ChatGenerationChunk:
    message = AIMessageChunk(
        content="", response_metadata={"finish_reason": "length", "stop_reason": STOP_REASON}, chunk_position="last"
    )
    return ChatGenerationChunk(message=message, generation_info={"finish_reason": "length"})


# Request options that mean structured output or tool calls: those calls keep the backend's own path.
_STRUCTURED = ("response_format", "tools", "format")


class RepetitionGuard:
    """Mixin for a LangChain chat model class (before it in the bases): cut looping streams."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if any(kwargs.get(k) for k in _STRUCTURED):
            return super()._generate(messages, stop, run_manager, **kwargs)  # type: ignore[misc,no-any-return]
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if any(kwargs.get(k) for k in _STRUCTURED):
            return await super()._agenerate(messages, stop, run_manager, **kwargs)  # type: ignore[misc,no-any-return]
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        detector = RepetitionDetector()
        stream = super()._stream(*args, **kwargs)  # type: ignore[misc]
        try:
            for chunk in stream:
                yield chunk
                if detector.feed(chunk.text):
                    log.warning("model output repeats itself; stopped after %d words", len(detector.words))
                    yield _stop_chunk()
                    return
        finally:
            stream.close()

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        detector = RepetitionDetector()
        stream = super()._astream(*args, **kwargs)  # type: ignore[misc]
        try:
            async for chunk in stream:
                yield chunk
                if detector.feed(chunk.text):
                    log.warning("model output repeats itself; stopped after %d words", len(detector.words))
                    yield _stop_chunk()
                    return
        finally:
            await stream.aclose()
