"""The body of `POST /v1/chat/completions` as a dependency: JSON (what the openai SDK and
Open WebUI send) or multipart form data (the original API's `messages` + `files`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app.schemas.openai import ChatCompletionRequest
from core.errors import APIError

__all__ = ["ChatInput", "ChatInputDep", "parse_chat_input"]

_FORM_SCALARS = ("model", "agent_type", "session_id", "user")
_FORM_NUMBERS = ("temperature", "top_p", "max_tokens", "max_completion_tokens")


@dataclass
class ChatInput:
    body: ChatCompletionRequest
    files: list[UploadFile] = field(default_factory=list)


def _invalid_json(where: str, detail: str) -> APIError:
    param = None if where == "request body" else where
    return APIError(400, f"{where} is not valid JSON: {detail}", param=param, code="invalid_json")


def _loads(raw: str | bytes, where: str) -> Any:
    try:
        data = json.loads(raw)
        # A JSON escape of a lone surrogate (\ud800) decodes to a str that cannot be encoded
        # again: refuse it here rather than fail later when it is stored. The byte scan first
        # keeps the full check off ordinary requests.
        if (b"\\ud" if isinstance(raw, bytes) else "\\ud") in raw.lower():  # type: ignore[operator]
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        return data
    except json.JSONDecodeError as exc:
        raise _invalid_json(where, exc.msg) from exc
    except UnicodeDecodeError as exc:  # json.loads decodes bytes itself, and raises this, not the above
        raise _invalid_json(where, exc.reason) from exc
    except RecursionError as exc:  # thousands of nested brackets
        raise _invalid_json(where, "nested too deeply") from exc
    except UnicodeEncodeError as exc:
        raise _invalid_json(where, "it contains a lone UTF-16 surrogate (\\ud800-\\udfff)") from exc


async def _form_data(request: Request) -> tuple[dict[str, Any], list[UploadFile]]:
    form = await request.form()
    raw_messages = form.get("messages")
    if not isinstance(raw_messages, str):
        raise APIError(400, "messages: a JSON array string is required in form data", param="messages")
    messages = _loads(raw_messages, "messages")
    if not isinstance(messages, list):
        raise APIError(400, "messages: must be a JSON array of messages", param="messages")
    data: dict[str, Any] = {"messages": messages}
    for key in _FORM_SCALARS + _FORM_NUMBERS:
        value = form.get(key)
        if isinstance(value, str) and value != "":
            data[key] = value
    stream = form.get("stream")
    data["stream"] = isinstance(stream, str) and stream.lower() in ("1", "true", "yes")
    return data, [f for f in form.getlist("files") if isinstance(f, UploadFile)]


async def parse_chat_input(request: Request) -> ChatInput:
    ctype = request.headers.get("content-type", "")
    files: list[UploadFile] = []
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        data, files = await _form_data(request)
    else:
        data = _loads(await request.body() or b"null", "request body")
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        return ChatInput(ChatCompletionRequest.model_validate(data), files)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        raise APIError(400, f"{param}: {first.get('msg')}" if param else str(first.get("msg")), param=param) from exc


ChatInputDep = Annotated[ChatInput, Depends(parse_chat_input)]
