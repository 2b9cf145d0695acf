"""The tool result envelope of DESIGN section 6: `{"success", "answer", "data", "metadata"}`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ToolResult", "ok", "fail"]


class ToolResult(BaseModel):
    success: bool
    answer: str
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


def ok(answer: str, data: dict[str, Any] | None = None, **metadata: Any) -> ToolResult:
    return ToolResult(success=True, answer=answer, data=data or {}, metadata=metadata)


def fail(answer: str, data: dict[str, Any] | None = None, **metadata: Any) -> ToolResult:
    """A tool failure (bad code, search outage): HTTP 200, `success: false`, a readable answer."""
    return ToolResult(success=False, answer=answer, data=data or {}, metadata=metadata)
