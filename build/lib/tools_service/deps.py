"""Dependency aliases for the tools app's routes: `SettingsDep`, `SandboxDep`, `WorkspacesDep`,
`RagDep`, `WebSearchDep`, `CurrentCaller` (as `app/api/deps.py` does for the main app).

The engines live on `app.state`, set by each tool module's `startup`; reading them here,
typed and checked, keeps `request.app.state` (an untyped bag) out of the handlers. A route
reached before its tool started (a lifespan that did not run) is a 503, not a 500.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request

from core.errors import APIError
from settings import Settings
from tools_service.auth import Caller, CurrentCaller
from tools_service.rag.engine import RagEngine
from tools_service.sandbox import Sandbox
from tools_service.websearch import WebSearch
from tools_service.workspace import Workspaces

__all__ = [
    "Caller",
    "CurrentCaller",
    "RagDep",
    "SandboxDep",
    "SettingsDep",
    "WebSearchDep",
    "WorkspacesDep",
    "get_rag",
    "get_sandbox",
    "get_settings",
    "get_websearch",
    "get_workspaces",
]

T = TypeVar("T")


def _state(request: Request, name: str, kind: type[T]) -> T:
    value = getattr(request.app.state, name, None)
    if not isinstance(value, kind):
        raise APIError(503, f"the tools app has not started {name}", code="not_ready")
    return value


def get_settings(request: Request) -> Settings:
    return _state(request, "settings", Settings)


def get_sandbox(request: Request) -> Sandbox:
    return _state(request, "sandbox", Sandbox)


def get_workspaces(request: Request) -> Workspaces:
    return _state(request, "workspaces", Workspaces)


def get_rag(request: Request) -> RagEngine:
    return _state(request, "rag", RagEngine)


def get_websearch(request: Request) -> WebSearch:
    return _state(request, "websearch", WebSearch)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
WorkspacesDep = Annotated[Workspaces, Depends(get_workspaces)]
RagDep = Annotated[RagEngine, Depends(get_rag)]
WebSearchDep = Annotated[WebSearch, Depends(get_websearch)]
