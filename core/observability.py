"""Structured logging with a request id on every line, and the LLM call log.

Every line carries `request_id` (from a contextvar set by the middleware), so one
request can be followed across the app; each LLM call is logged with backend,
model, latency and token usage by `LLMCallLogger`, a LangChain callback handler.

Several workers (SERVER_WORKERS > 1) and replicas on a shared DATA_DIR write the same
`logs/<name>.log`: a RotatingFileHandler per process rotated it independently (a process
kept writing into the file another had just renamed, and overwrote its backups), so the
file handler is `concurrent-log-handler`'s, which writes and rotates under a file lock.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from concurrent_log_handler import ConcurrentRotatingFileHandler
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.outputs import LLMResult
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics

__all__ = ["request_id_var", "configure_logging", "RequestIdMiddleware", "LLMCallLogger"]

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update(extra)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class _OnceForKnownNoise(logging.Filter):
    """Lets the first of a known, harmless library warning through and drops its repeats.

    langchain-openai (1.7.4, the latest) dumps the OpenAI SDK's streamed structured-output
    chunks with `model_dump()`, whose `parsed` field the SDK types as None, so pydantic warns
    `PydanticSerializationUnexpectedValue(Expected `none` ... field_name='parsed' ...)` on every
    structured-output call (router, planner, verifier) although the value is right. Logged
    once, an operator can see it; logged per call, it buries the log."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if (
            "PydanticSerializationUnexpectedValue(Expected `none`" not in message
            or "field_name='parsed'" not in message
        ):
            return True
        first, self._seen = not self._seen, True
        return first


_configured: set[str] = set()

LOG_MAX_BYTES = 20_000_000
LOG_BACKUPS = 3


def configure_logging(
    data_dir: Path, name: str, level: str = "INFO", *, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS
) -> None:
    """Log JSON lines to stderr and to `DATA_DIR/logs/<name>.log`, shared by every process
    and rotated at `max_bytes` under a lock, keeping `backups` older files."""
    key = f"{data_dir}:{name}"
    if key in _configured:
        return
    _configured.add(key)
    root = logging.getLogger()
    root.setLevel(level.upper())
    formatter = JsonFormatter()
    rid = _RequestIdFilter()
    handlers: list[logging.Handler] = []
    if not any(getattr(h, "_llm_api", False) for h in root.handlers):
        stream = logging.StreamHandler()
        stream._llm_api = True  # type: ignore[attr-defined]
        handlers.append(stream)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    handlers.append(ConcurrentRotatingFileHandler(str(logs / f"{name}.log"), maxBytes=max_bytes, backupCount=backups))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(rid)
        root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "aiosqlite", "urllib3", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Python warnings (e.g. pydantic's "serializer warnings" that langchain-openai's streamed
    # structured output triggers on every call) would otherwise print as plain text between
    # the JSON lines; through the `py.warnings` logger they become records like any other.
    logging.captureWarnings(True)
    warned = logging.getLogger("py.warnings")
    if not any(isinstance(f, _OnceForKnownNoise) for f in warned.filters):
        warned.addFilter(_OnceForKnownNoise())


class RequestIdMiddleware:
    """Pure ASGI (streaming-safe): takes `X-Request-Id` or makes one, echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming[:64] if incoming and incoming.replace("-", "").isalnum() else uuid.uuid4().hex[:16]
        token = request_id_var.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class LLMCallLogger(AsyncCallbackHandler):
    """The original's request interceptor: one log line per LLM call."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._started: dict[UUID, tuple[float, str]] = {}
        self.log = logging.getLogger("llm.calls")

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        meta = kwargs.get("metadata") or {}
        model = str(params.get("model") or params.get("model_name") or meta.get("ls_model_name") or "")
        self._started[run_id] = (time.perf_counter(), model)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        started, model = self._started.pop(run_id, (time.perf_counter(), ""))
        usage: dict[str, int] = {}
        for gens in response.generations:
            for gen in gens:
                meta = getattr(getattr(gen, "message", None), "usage_metadata", None) or {}
                for key in ("input_tokens", "output_tokens", "total_tokens"):
                    usage[key] = usage.get(key, 0) + int(meta.get(key, 0) or 0)
        self.count(usage)
        metrics.LLM_CALLS.labels(self.backend, "ok").inc()
        metrics.LLM_LATENCY.labels(self.backend).observe(time.perf_counter() - started)
        for kind in ("input_tokens", "output_tokens"):
            metrics.LLM_TOKENS.labels(self.backend, kind.removesuffix("_tokens")).inc(usage.get(kind, 0))
        self.log.info(
            "llm call",
            extra={
                "fields": {
                    "backend": self.backend,
                    "model": model,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    **usage,
                }
            },
        )

    def count(self, usage: dict[str, int]) -> None:
        """Called with each call's token usage; a subclass totals it over a run (the API's runner)."""

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        started, model = self._started.pop(run_id, (time.perf_counter(), ""))
        metrics.LLM_CALLS.labels(self.backend, "error").inc()
        self.log.warning(
            "llm call failed: %s",
            error,
            extra={
                "fields": {
                    "backend": self.backend,
                    "model": model,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                }
            },
        )
