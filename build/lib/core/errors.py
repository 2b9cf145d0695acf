"""The OpenAI error envelope, and the handlers that make every failure one.

`{"error": {"message", "type", "param", "code"}}` with the right status: clients
(openai SDK, Open WebUI) show `message`; nothing ever returns a traceback.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["APIError", "error_body", "install_error_handlers", "storage_error"]

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "backend_error",
    503: "backend_unavailable",
    504: "backend_timeout",
}


def _error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or _error_type(status)
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
    param = ".".join(loc) or None
    msg = str(first.get("msg", "invalid value"))
    if first.get("type") == "value_error":  # our own validators' messages, without pydantic's prefix
        msg = msg.removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return "request body is not valid JSON", None
    return (f"{param}: {msg}" if param else msg), param


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EIO}
_STORAGE_WORDS = ("database is locked", "readonly database", "read-only", "disk is full", "disk i/o error")


def storage_error(exc: BaseException) -> APIError | None:
    """A failure of our own storage that a client should retry later, as a 503 with
    `Retry-After`: the database pool is exhausted, the database is locked or on a
    read-only or full disk. None for anything else. Checked along the cause chain."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        name = type(seen).__name__
        text = str(seen).lower()
        if name == "TimeoutError" and type(seen).__module__.startswith("sqlalchemy"):
            return APIError(
                503,
                "the server is busy: no database connection was free",
                code="server_busy",
                type_="server_busy",
                headers={"Retry-After": "1"},
            )
        if (isinstance(seen, OSError) and seen.errno in _STORAGE_ERRNOS) or (
            name in ("OperationalError", "DiskFullError") and any(w in text for w in _STORAGE_WORDS)
        ):
            return APIError(
                503,
                "the server cannot write its data right now (storage unavailable)",
                code="storage_unavailable",
                type_="storage_unavailable",
                headers={"Retry-After": "5"},
            )
        seen = seen.__cause__ or seen.__context__
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = error_body(message, _error_type(status))
        return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # OpenAI answers 400 for a bad body; our own /api routes use FastAPI's usual 422.
        message, param = _validation_message(exc)
        status = 400 if request.url.path.startswith("/v1/") else 422
        return JSONResponse(error_body(message, "invalid_request_error", param), status_code=status)

    async def _storage(_: Request, exc: Exception) -> JSONResponse:
        mapped = storage_error(exc)
        if mapped is None:
            log.exception("unhandled error: %s", exc)
            return JSONResponse(error_body("internal server error", "api_error"), status_code=500)
        log.warning("storage unavailable: %s", exc)
        return JSONResponse(mapped.body(), status_code=mapped.status, headers=mapped.headers)

    # Storage failures get their own handlers: the catch-all below is Starlette's last resort,
    # which answers and then re-raises (the server logs a traceback for an ordinary 503).
    app.add_exception_handler(SQLAlchemyError, _storage)
    app.add_exception_handler(OSError, _storage)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        mapped = storage_error(exc)
        if mapped is not None:
            log.warning("storage unavailable: %s", exc)
            return JSONResponse(mapped.body(), status_code=mapped.status, headers=mapped.headers)
        log.exception("unhandled error: %s", exc)
        return JSONResponse(error_body("internal server error", "api_error"), status_code=500)
