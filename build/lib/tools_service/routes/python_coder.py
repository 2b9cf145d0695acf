"""python_coder: run Python in the session's sandboxed workspace, and the workspace's files.

The caller's identity comes from `CurrentCaller` (JWT or service key + X-User-Id); the
session id is validated before it becomes a path. A failing program is a tool failure
(`success: false`, HTTP 200); a bad request is a 4xx.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse

from core.disconnect import unless_disconnected
from core.errors import APIError
from core.quota import quota_error, room_left
from settings import Settings
from tools_service.contracts.python_coder import PYTHON_CODER, PythonCoderRequest
from tools_service.deps import CurrentCaller, SandboxDep, SettingsDep, WorkspacesDep
from tools_service.envelope import ToolResult, fail, ok
from tools_service.sandbox import SANDBOX_FIX_HINT, RunResult, Sandbox
from tools_service.workspace import WorkspaceError, Workspaces

__all__ = ["router", "SPECS", "startup", "shutdown"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tools/python_coder", tags=["python_coder"])

# What /api/tools/list publishes, from the contract the body is validated with.
SPECS: list[dict[str, Any]] = [PYTHON_CODER.spec()]


async def startup(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    workspaces = Workspaces(settings.data_dir, settings.python_sandbox_uid if os.geteuid() == 0 else None)
    sandbox = Sandbox(settings, workspaces)
    app.state.workspaces = workspaces
    app.state.sandbox = sandbox
    if settings.python_sandbox == "none":
        log.warning(
            "PYTHON_SANDBOX=none: python_coder runs model-written code WITHOUT a sandbox (no namespace, "
            "no filesystem or network isolation). Only for a trusted single-user machine."
        )
    elif reason := await sandbox.check():
        log.error("python_coder will refuse to run code: %s. Fix: %s", reason, SANDBOX_FIX_HINT)


async def shutdown(app: FastAPI) -> None:
    sandbox: Sandbox | None = getattr(app.state, "sandbox", None)
    if sandbox is not None:
        await sandbox.aclose()


def _workspace_error(exc: WorkspaceError) -> APIError:
    return APIError(exc.status, exc.message, param="filename" if exc.status != 413 else None)


def _describe(result: RunResult, timeout: float, quota_mb: int) -> tuple[bool, str]:
    """(success, answer): a short account the model can act on."""
    notes = []
    if result.stopped == "timeout":
        notes.append(f"stopped: it ran longer than the {timeout:g} s limit")
    elif result.stopped == "quota":
        notes.append(
            f"stopped: the workspace outgrew its quota ({quota_mb} MB per session, less when the user's total disk "
            "quota is nearly used); files written by this run were removed"
        )
    elif result.stopped == "output":
        notes.append("stopped: it printed far more than the output limit")
    elif result.stopped == "error":
        notes.append("the sandbox could not start; see stderr")
    if result.truncated:
        notes.append("output truncated")
    success = result.exit_code == 0 and result.stopped is None
    if success:
        head = "the code ran successfully (exit code 0)"
    else:
        last = result.stderr.strip().splitlines()[-1:] or [""]
        head = f"the code failed (exit code {result.exit_code})" + (f": {last[0][:300]}" if last[0] else "")
    return success, "; ".join([head, *notes])


@router.post("", response_model=ToolResult)
async def run_code(
    body: PythonCoderRequest,
    request: Request,
    caller: CurrentCaller,
    settings: SettingsDep,
    workspaces: WorkspacesDep,
    sandbox: SandboxDep,
) -> ToolResult:
    if len(body.code.encode()) > settings.python_exec_max_code_kb * 1024:
        raise APIError(413, f"code is longer than {settings.python_exec_max_code_kb} KB", param="code")
    try:
        workspace = workspaces.path(caller.user_id, body.session_id)
    except WorkspaceError as exc:
        raise APIError(400, exc.message, param="session_id") from exc
    if reason := await sandbox.check():
        return fail(f"python sandbox unavailable: {reason}. Fix: {SANDBOX_FIX_HINT}", error="sandbox_unavailable")
    workspace = await asyncio.to_thread(workspaces.ensure, caller.user_id, body.session_id)
    usage = await asyncio.to_thread(workspaces.usage, workspace)
    quota_mb = settings.python_exec_workspace_quota_mb
    if usage.total_bytes > sandbox.limits.quota_bytes:
        return fail(
            f"the workspace is over its {quota_mb} MB quota ({usage.total_bytes // (1024 * 1024)} MB): "
            "delete files before running more code",
            error="quota",
        )
    if await asyncio.to_thread(room_left, settings, caller.user_id) <= 0:
        return fail(quota_error(settings).message, error="quota")

    def room() -> int:  # what this workspace may hold once the user's other data is counted
        return workspaces.usage(workspace).total_bytes + room_left(settings, caller.user_id)

    timeout = min(body.timeout or settings.python_exec_timeout, settings.python_exec_timeout)
    result = await unless_disconnected(request, sandbox.run(workspace, body.code, timeout, room=room))
    if result is None:
        log.info("python_coder user=%s session=%s: caller went away, run killed", caller.user_id, body.session_id)
        return fail("the caller disconnected; the run was stopped", error="cancelled")
    success, answer = _describe(result, timeout, quota_mb)
    log.info(
        "python_coder user=%s session=%s exit=%s stopped=%s ms=%s",
        caller.user_id, body.session_id, result.exit_code, result.stopped, result.duration_ms,
    )  # fmt: skip
    data = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exit_code": result.exit_code,
        "files": result.files,
        "duration_ms": result.duration_ms,
        "truncated": result.truncated,
    }
    return ToolResult(
        success=success,
        answer=answer,
        data=data,
        metadata={"session_id": body.session_id, "timeout": timeout, "sandbox": settings.python_sandbox,
                  "stopped": result.stopped, "removed": result.removed},
    )  # fmt: skip


@router.get("/files/{session_id}", response_model=ToolResult)
async def list_files(session_id: str, caller: CurrentCaller, workspaces: WorkspacesDep) -> ToolResult:
    try:
        workspace = workspaces.path(caller.user_id, session_id)
    except WorkspaceError as exc:
        raise _workspace_error(exc) from exc
    if not workspaces.exists(caller.user_id, session_id):
        return ok("the workspace is empty", {"files": []}, session_id=session_id)
    files = await asyncio.to_thread(workspaces.list_files, workspace)
    return ok(f"{len(files)} file(s) in the workspace", {"files": files}, session_id=session_id)


def _chunks(fd: int) -> Iterator[bytes]:
    try:
        while chunk := os.read(fd, 1 << 20):
            yield chunk
    finally:
        os.close(fd)


@router.get("/files/{session_id}/{filename:path}")
async def read_file(
    session_id: str, filename: str, caller: CurrentCaller, workspaces: WorkspacesDep
) -> StreamingResponse:
    try:
        workspace = workspaces.path(caller.user_id, session_id)
        fd, size = await asyncio.to_thread(workspaces.open_file, workspace, filename)
    except WorkspaceError as exc:
        raise _workspace_error(exc) from exc
    media = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    basename = filename.rsplit("/", 1)[-1]
    headers = {"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{basename}"',
               "X-Content-Type-Options": "nosniff"}  # fmt: skip
    return StreamingResponse(_chunks(fd), media_type=media, headers=headers)


@router.post("/files/{session_id}", response_model=ToolResult)
async def upload_file(
    session_id: str,
    caller: CurrentCaller,
    settings: SettingsDep,
    workspaces: WorkspacesDep,
    sandbox: SandboxDep,
    file: Annotated[UploadFile, File()],
    filename: Annotated[str | None, Form()] = None,
) -> ToolResult:
    """Copy a file the user attached to the chat into the session's workspace (the main app calls this)."""
    name = filename or file.filename or ""
    try:
        workspace = await asyncio.to_thread(workspaces.ensure, caller.user_id, session_id)
        usage = await asyncio.to_thread(workspaces.usage, workspace)
        room = sandbox.limits.quota_bytes - usage.total_bytes
        user_room = await asyncio.to_thread(room_left, settings, caller.user_id)
        limit = max(0, min(settings.max_file_size_bytes, room, user_room))
        if file.size is not None and file.size > limit:  # refused from the size Starlette counted, unread
            raise WorkspaceError(413, f"file is larger than the {limit} bytes allowed (file size limit or quota)")
        # Copied 1 MiB at a time on a worker thread into a temp file renamed into place.
        chunks = iter(lambda: file.file.read(1 << 20), b"")
        size = await asyncio.to_thread(workspaces.write_file, workspace, name, chunks, limit)
    except WorkspaceError as exc:
        raise _workspace_error(exc) from exc
    return ok(f"uploaded {name} ({size} bytes)", {"name": name, "size": size}, session_id=session_id)


@router.delete("/files/{session_id}", response_model=ToolResult)
async def delete_workspace(session_id: str, caller: CurrentCaller, workspaces: WorkspacesDep) -> ToolResult:
    """Remove a session's workspace (the main app calls this when a session is deleted)."""
    try:
        removed = await asyncio.to_thread(workspaces.delete, caller.user_id, session_id)
    except WorkspaceError as exc:
        raise _workspace_error(exc) from exc
    return ok("workspace removed" if removed else "no workspace to remove", {"removed": removed}, session_id=session_id)


@router.delete("/files/{session_id}/{filename:path}", response_model=ToolResult)
async def delete_file(session_id: str, filename: str, caller: CurrentCaller, workspaces: WorkspacesDep) -> ToolResult:
    try:
        workspace = workspaces.path(caller.user_id, session_id)
        await asyncio.to_thread(workspaces.delete_file, workspace, filename)
    except WorkspaceError as exc:
        raise _workspace_error(exc) from exc
    return ok(f"deleted {filename}", {"name": filename}, session_id=session_id)
