"""Request bodies are bounded before they are read (both apps install this).

A 400 MB unauthenticated POST once took the main app from 0.9 to 2.1 GB: FastAPI reads
and parses the body before any dependency (authentication included) runs. This pure-ASGI
middleware answers 413 from `Content-Length` alone, and counts the bytes of bodies sent
without one (chunked) while the app reads them, stopping at the limit. Multipart uploads
are streamed to temporary files by Starlette, so their larger limit costs disk, not memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import error_body

__all__ = ["BodyLimits", "BodyLimitMiddleware"]

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    """Bytes allowed per request body: `json` by default, `multipart` for form uploads,
    and `paths` (exact path → bytes) where a route needs its own."""

    json: int = 4 * MB
    multipart: int = 20 * 100 * MB + MB
    paths: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> BodyLimits:
        json_limit = int(settings.max_json_body_mb * MB)
        # Every file at its maximum, plus room for the form's other fields.
        multipart = int(settings.max_upload_files) * int(settings.max_file_size_mb) * MB + MB
        # Chat requests carry whole histories (clients resend them each turn).
        return cls(json=json_limit, multipart=multipart, paths={"/v1/chat/completions": 4 * json_limit})

    def for_request(self, path: str, content_type: str) -> int:
        if content_type.startswith("multipart/form-data"):
            return self.multipart
        return self.paths.get(path, self.json)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _too_large(limit: int) -> str:
    return f"request body is larger than {limit // MB if limit >= MB else limit} {'MB' if limit >= MB else 'bytes'}"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits | Callable[[], BodyLimits]) -> None:
        self.app = app
        self._limits = limits

    @property
    def limits(self) -> BodyLimits:
        return self._limits if isinstance(self._limits, BodyLimits) else self._limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_request(scope.get("path", ""), _header(scope, b"content-type").lower())
        declared = _header(scope, b"content-length")
        if declared:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # the server rejects a malformed Content-Length itself
            if too_big:
                log.info("refused a %s-byte body to %s (limit %d)", declared, scope.get("path"), limit)
                body = error_body(_too_large(limit), "invalid_request_error", code="request_too_large")
                await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException reaches the app's own error handler (the 413 envelope).
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)
