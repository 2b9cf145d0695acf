"""Files attached to a chat: stored safely per user and session, described for the model.

Layout: `DATA_DIR/uploads/<user>/<session>/<name>` plus `.meta/<name>.json` (what the
model is told about it). Every file of a request is checked (type by extension *and*
content, size) before any is written; a write never replaces an existing file (the name
is claimed with a hard link, which fails if taken, so concurrent requests cannot
collide); and a request that fails half-way removes what it wrote. The description of
all the session's files goes to the agent on every turn, not just the turn of the upload.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import UploadFile

from app.db import User
from app.services import file_metadata
from app.services.container import Services
from app.services.sessions import uploads_dir
from core.errors import APIError
from core.quota import check_room

__all__ = ["ALLOWED_EXTENSIONS", "MAX_FILES", "safe_filename", "attach_files"]

log = logging.getLogger(__name__)

_TEXT_EXTENSIONS = frozenset({".txt", ".md", ".json", ".csv", ".tsv", ".py", ".yaml", ".yml", ".xml", ".html", ".log"})
# Binary formats and the bytes they start with: a renamed executable is not a PDF.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    ".pdf": (b"%PDF-",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".xlsx": (b"PK\x03\x04",),
    ".docx": (b"PK\x03\x04",),
    ".xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
}
ALLOWED_EXTENSIONS = _TEXT_EXTENSIONS | frozenset(_MAGIC)
MAX_FILES = 20  # per request
_MAX_LISTED = 20  # files described to the model, newest last
_META = ".meta"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


def safe_filename(name: str) -> str:
    """The last path component only, without control, shell-special or leading dot/dash
    characters, at most 120 characters with the extension kept."""
    base = name.replace("\\", "/").split("/")[-1]
    base = _UNSAFE.sub("_", base).strip(" .-")
    stem, ext = os.path.splitext(base)
    if len(base) > 120:
        base = stem[: 120 - len(ext)].rstrip(" .") + ext
    return base if base and not base.startswith(".") else "file" + ext


@dataclass
class _Checked:
    name: str
    content: bytes


def _check(upload: UploadFile, content: bytes, limit_mb: int, limit: int) -> _Checked:
    name = safe_filename(upload.filename or "file")
    ext = os.path.splitext(name)[1].lower()
    if ext not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(sorted(ALLOWED_EXTENSIONS))
        raise APIError(
            415,
            f"{name}: file type {ext or '(none)'} is not supported; allowed: {allowed}",
            param="files",
            code="unsupported_file_type",
        )
    if len(content) > limit:
        raise APIError(413, f"{name}: larger than MAX_FILE_SIZE_MB={limit_mb}", param="files", code="file_too_large")
    magic = _MAGIC.get(ext)
    if magic is not None and not content.startswith(magic):
        raise APIError(415, f"{name}: the content is not a {ext} file", param="files", code="unsupported_file_type")
    if magic is None and b"\x00" in content[:8192]:
        raise APIError(415, f"{name}: binary content in a {ext} file", param="files", code="unsupported_file_type")
    return _Checked(name, content)


def _claim(folder: Path, name: str, content: bytes) -> Path:
    """Write `content` under `name`, or `name (n)` if taken; never overwrites."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{uuid.uuid4().hex}.part"
    tmp.write_bytes(content)
    stem, suffix = os.path.splitext(name)
    try:
        for n in range(10_000):
            target = folder / (name if n == 0 else f"{stem} ({n}){suffix}")
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                continue
        raise OSError(f"no free name for {name}")
    finally:
        tmp.unlink(missing_ok=True)


def _write_meta(path: Path, size: int, description: str, workspace: str) -> None:
    meta = path.parent / _META
    meta.mkdir(exist_ok=True)
    record = {"name": path.name, "size": size, "description": description, "workspace": workspace}
    tmp = meta / f".{uuid.uuid4().hex}.part"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, meta / f"{path.name}.json")


def _read_descriptions(folder: Path) -> str:
    meta = folder / _META
    if not meta.is_dir():
        return ""
    records = []
    for entry in sorted(meta.glob("*.json"), key=lambda p: p.stat().st_mtime_ns):
        try:
            records.append(json.loads(entry.read_text()))
        except (OSError, ValueError):
            continue
    records = [r for r in records if (folder / str(r.get("name", ""))).is_file()][-_MAX_LISTED:]
    if not records:
        return ""
    lines = ["The user attached these files to this conversation (workspace = your Python working directory):"]
    for r in records:
        copied = r.get("workspace") == "copied"
        where = "in your workspace" if copied else f"NOT in your workspace: {r.get('workspace')}"
        lines.append(f"- {r['name']} ({r.get('size', 0)} bytes, {where})")
        lines.extend("  " + line for line in str(r.get("description", "")).splitlines())
    return "\n".join(lines)


async def _copy_to_workspace(services: Services, user_id: str, session_id: str, name: str, content: bytes) -> str:
    client = services.tools_client
    if client is None:
        return "copy failed: the tools app is not configured"
    try:
        result = await client.upload_file(user_id, session_id, name, content)
    except Exception as exc:  # the client should not raise, but an upload must not fail on it
        log.warning("workspace copy of %s failed: %s", name, exc)
        return f"copy failed: {type(exc).__name__}"
    if not result.success:
        log.warning("workspace copy of %s failed: %s", name, result.answer)
        return f"copy failed: {result.answer[:200]}"
    return "copied"


async def attach_files(services: Services, user: User, session_id: str, files: list[UploadFile]) -> str:
    """Store `files` (all checked before any is written) and return the description of every
    file in the session, for the agent's prompt. With no files, just the description."""
    settings = services.settings
    folder = uploads_dir(settings.data_dir, user.id, session_id)
    if len(files) > MAX_FILES:
        raise APIError(400, f"at most {MAX_FILES} files per request", param="files", code="too_many_files")
    checked: list[_Checked] = []
    for upload in files:
        content = await upload.read(settings.max_file_size_bytes + 1)
        checked.append(_check(upload, content, settings.max_file_size_mb, settings.max_file_size_bytes))
    await asyncio.to_thread(check_room, settings, user.id, sum(len(item.content) for item in checked))
    # Described (in the limited parsing child) before anything is written: a parser bomb
    # is refused with 413 and leaves no file behind.
    try:
        descriptions = await asyncio.gather(
            *(file_metadata.describe(item.name, item.content, settings) for item in checked)
        )
    except file_metadata.TooLarge as exc:
        raise APIError(413, exc.message, param="files", code="file_too_complex") from exc
    written: list[Path] = []
    try:
        for item in checked:
            written.append(await asyncio.to_thread(_claim, folder, item.name, item.content))
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        log.exception("storing uploads in %s failed", folder)
        raise APIError(
            507, f"could not store the files: {exc.strerror or exc}", type_="api_error", code="storage_error"
        ) from exc
    for path, item, description in zip(written, checked, descriptions, strict=True):
        workspace = await _copy_to_workspace(services, user.id, session_id, path.name, item.content)
        await asyncio.to_thread(_write_meta, path, len(item.content), description, workspace)
    return await asyncio.to_thread(_read_descriptions, folder)
