"""`response_format` on agents: the agent's final answer, reshaped as the client asked.

The agent runs as usual (its own calls keep their own formats); its final answer then goes
through one more model call with the client's `response_format` (`json_schema`: the backend's
structured output, grammar-constrained on llama.cpp; `json_object`: JSON mode), and the result
is checked: it must parse, and match the schema. While streaming, the prose answer is held
back (progress still streams as `reasoning_content`) and the JSON is sent at the end. The
turn stored in the session keeps the agent's prose answer.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from app.schemas.openai import ChatCompletionRequest, ChatMessageIn
from app.services import passthrough
from app.services.run_types import RunEvent, RunHandle, RunResult
from core.errors import APIError
from core.llm import LLMService

__all__ = ["check_format", "reshape", "FormattingHandle"]

_ASK = (
    "Give the answer above as a JSON value, with nothing else. Keep its content; do not add facts. "
    "The JSON must follow the requested format."
)


def check_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    """The client's `response_format`, validated; None for plain text."""
    if not fmt or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return fmt
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise APIError(400, "response_format.json_schema.schema must be an object", param="response_format")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise APIError(
                400, f"response_format: invalid JSON schema: {exc.message}", param="response_format"
            ) from exc
        return fmt
    raise APIError(400, f"response_format type {fmt.get('type')!r} is not supported", param="response_format")


async def reshape(
    llm: LLMService, model: str | None, messages: list[ChatMessageIn], answer: str, fmt: dict[str, Any]
) -> str:
    """The answer as JSON in the requested format (validated), from one structured call."""
    if passthrough.backend_target(llm) is None:
        raise APIError(400, "response_format on agents needs an HTTP LLM backend", param="response_format")
    convo = [m.model_dump(exclude_none=True) for m in messages if m.role != "tool"]
    body = ChatCompletionRequest.model_validate(
        {
            "model": model or llm.info.model,
            "messages": [*convo, {"role": "assistant", "content": answer}, {"role": "user", "content": _ASK}],
            "response_format": fmt,
            "temperature": 0,
        }
    )
    data = await passthrough.complete(llm, body)
    text = str(((data.get("choices") or [{}])[0].get("message") or {}).get("content") or "")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise APIError(502, "the model's formatted answer is not JSON", code="invalid_structured_output") from exc
    if fmt["type"] == "json_object" and not isinstance(value, dict):
        raise APIError(502, "the model's formatted answer is not a JSON object", code="invalid_structured_output")
    if fmt["type"] == "json_schema":
        try:
            jsonschema.validate(value, fmt["json_schema"]["schema"])
        except jsonschema.ValidationError as exc:
            raise APIError(
                502, f"the model's answer does not match the schema: {exc.message}", code="invalid_structured_output"
            ) from exc
    return text


@dataclass
class FormattingHandle(RunHandle):
    """A run's handle whose answer is held back and replaced by its formatted version."""

    llm: LLMService | None = None
    model: str | None = None
    messages: list[ChatMessageIn] = field(default_factory=list)
    fmt: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._pending: deque[RunEvent] = deque()

    async def _shape(self, event: RunEvent) -> list[RunEvent]:
        if event.kind == "content":
            return []
        if event.kind != "done":
            return [event]
        assert self.llm is not None
        result: RunResult = event.data["result"]
        try:
            result.answer = await reshape(self.llm, self.model, self.messages, result.answer, self.fmt)
        except APIError as exc:
            return [RunEvent("error", error=exc)]
        result.finish_reason = "stop"
        return [RunEvent("content", result.answer), event]

    async def next(self, timeout: float | None = None) -> RunEvent | None:
        while not self._pending:
            event = await super().next(timeout)
            if event is None:
                return None
            self._pending.extend(await self._shape(event))
        return self._pending.popleft()
