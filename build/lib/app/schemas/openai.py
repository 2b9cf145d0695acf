"""OpenAI wire models: what the `openai` SDK and Open WebUI send and expect back."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ChatMessageIn",
    "ChatCompletionRequest",
    "StreamOptions",
    "Usage",
    "check_session_id",
    "new_completion_id",
    "completion_response",
    "completion_chunk",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
SESSION_ID_MAX = 128  # also the tools app's limit for a workspace folder name


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """Content as plain text: list parts (OpenAI's content-part form) are joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") == "text":
                parts.append(str(part.get("text", "")))
        return "\n".join(parts)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    user: str | None = None
    # extensions
    agent_type: str | None = None
    session_id: str | None = Field(default=None, max_length=SESSION_ID_MAX)

    @field_validator("session_id")
    @classmethod
    def _session_chars(cls, value: str | None) -> str | None:
        return check_session_id(value)

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def check_session_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in value) or value.startswith("."):
        raise ValueError("session_id may contain only ASCII letters, digits, '-', '_' and '.' (not first)")
    if len(value) > SESSION_ID_MAX:  # the body's Field says so too; headers come only through here
        raise ValueError(f"session_id may be at most {SESSION_ID_MAX} characters")
    return value


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion_response(
    *,
    completion_id: str,
    model: str,
    content: str,
    usage: Usage,
    session_id: str,
    finish_reason: str = "stop",
    steps: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage.model_dump(),
        "x_session_id": session_id,
    }
    if steps is not None:
        body["x_steps"] = steps
    return body


def completion_chunk(
    *,
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if usage is not None
        else [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage is not None:
        chunk["usage"] = usage.model_dump()
    if session_id is not None:
        chunk["x_session_id"] = session_id
    return chunk
