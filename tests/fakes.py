"""A scripted chat model for tests: replays responses in order and records what it saw.

Why not `GenericFakeChatModel` as is (DESIGN section 7): it raises on `bind_tools`, it hands
out the same message object on every call (so `add_messages` replaces instead of appending
once the object has an id), and its streaming drops `tool_calls`. This one:

- `bind_tools` returns the model itself, so agents bind tools as they would in production;
- `with_structured_output` works through LangChain's default implementation (a forced tool
  call parsed into the schema): script a Pydantic instance and it becomes that tool call;
- every call gets a fresh deep copy of its scripted message, with a fresh id;
- `_stream`/`_astream` yield content token by token and tool calls as `tool_call_chunks`;
- `.calls` records the messages each call received, so a test can assert what the model saw.

Script items: an `AIMessage`, a `str` (plain answer), a Pydantic model instance (structured
output), or an `Exception` instance (raised by that call). Running past the end of the
script fails the test loudly, since it means the graph made a call nobody expected.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ScriptedChatModel", "ScriptExhausted", "tool_call", "ai_tool_calls"]

Scripted = AIMessage | str | BaseModel | Exception


class ScriptExhausted(AssertionError):
    """The graph called the model more often than the test scripted."""


def tool_call(name: str, call_id: str | None = None, **args: Any) -> dict[str, Any]:
    """One tool call dict for `AIMessage(tool_calls=[...])`."""
    return {"name": name, "args": args, "id": call_id or f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}


def ai_tool_calls(*calls: dict[str, Any], content: str = "") -> AIMessage:
    """An assistant turn that calls the given tools (in parallel when several)."""
    return AIMessage(content=content, tool_calls=list(calls))


class _Script:
    """Shared by copies of the model (`model_copy` from per-run options must not fork the script)."""

    def __init__(self, responses: Sequence[Scripted]) -> None:
        self.responses = list(responses)
        self.index = 0
        self.calls: list[list[BaseMessage]] = []
        self.lock = threading.Lock()

    def next(self, messages: list[BaseMessage]) -> AIMessage:
        with self.lock:
            self.calls.append([m.model_copy(deep=True) for m in messages])
            if self.index >= len(self.responses):
                raise ScriptExhausted(
                    f"model called {self.index + 1} times but only {len(self.responses)} responses were scripted; "
                    f"last input: {messages[-1].content if messages else None!r}"
                )
            item = self.responses[self.index]
            self.index += 1
        return _to_message(item)


def _to_message(item: Scripted) -> AIMessage:
    if isinstance(item, Exception):
        raise item
    if isinstance(item, str):
        message = AIMessage(content=item)
    elif isinstance(item, AIMessage):
        message = item.model_copy(deep=True)
    elif isinstance(item, BaseModel):
        message = AIMessage(content="", tool_calls=[tool_call(type(item).__name__, **item.model_dump(mode="json"))])
    else:  # pragma: no cover - guarded by the type
        raise TypeError(f"cannot script {type(item).__name__}")
    message.id = f"scripted-{uuid.uuid4().hex[:12]}"
    return message


class ScriptedChatModel(BaseChatModel):
    """`ScriptedChatModel(responses=[...])`; see the module docstring."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = Field(default_factory=list)
    script: _Script | None = None

    def model_post_init(self, context: Any) -> None:
        if self.script is None:
            self.script = _Script(self.responses)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages each call received, in call order."""
        assert self.script is not None
        return self.script.calls

    @property
    def remaining(self) -> int:
        assert self.script is not None
        return len(self.script.responses) - self.script.index

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        del tools, tool_choice, kwargs
        return self

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        assert self.script is not None
        return self.script.next(messages)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop)

    @staticmethod
    def _chunks(message: AIMessage) -> list[AIMessageChunk]:
        text = message.content if isinstance(message.content, str) else json.dumps(message.content)
        chunks = [AIMessageChunk(content=token, id=message.id) for token in re.split(r"(\s)", text) if token]
        if message.tool_calls:
            chunks.append(
                AIMessageChunk(
                    content="",
                    id=message.id,
                    tool_call_chunks=[
                        {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                        for i, c in enumerate(message.tool_calls)
                    ],
                )
            )
        if not chunks:
            chunks.append(AIMessageChunk(content="", id=message.id))
        chunks[-1].chunk_position = "last"
        return chunks

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._next(messages)):
            if run_manager and isinstance(chunk.content, str):
                run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._next(messages)):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager and isinstance(chunk.content, str):
                await run_manager.on_llm_new_token(chunk.content, chunk=generation)
            yield generation
