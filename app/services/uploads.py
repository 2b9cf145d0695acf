"""Files attached to a chat: stored safely per user and session, described for the model.

Layout: `DATA_DIR/uploads/<user>/<session>/<name>` plus `.meta/<name>.json` (what the
model is told about it). Every file of a request is checked (type by extension *and*
content, size) before any is written; a write never replaces an existing file (the name
is claimed with a hard link, which fails if taken, so concurrent requests cannot
collide); and a request that fails half-way removes what it wrote. The description of
all the session's files goes to the agent on every turn, not just the turn of the upload.

No file is ever whole in memory (core/spool.py): the checks read the declared size and
the first bytes, the file is copied in chunks to a temp file beside its final name, the
parsing child reads that file by path, and the workspace copy streams from disk.
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
from core import spool
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
    upload: UploadFile
    name: str
    size: int


def _file_too_large(name: str, limit_mb: int) -> APIError:
    return APIError(413, f"{name}: larger than MAX_FILE_SIZE_MB={limit_mb}", param="files", code="file_too_large")


async def _check(upload: UploadFile, limit_mb: int, limit: int) -> _Checked:
    """Type by extension and by the first bytes, size as Starlette counted it: nothing more is read."""
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
    size = await spool.upload_size(upload)
    if size > limit:
        raise _file_too_large(name, limit_mb)
    head = await spool.read_head(upload)
    magic = _MAGIC.get(ext)
    if magic is not None and not head.startswith(magic):
        raise APIError(415, f"{name}: the content is not a {ext} file", param="files", code="unsupported_file_type")
    if magic is None and b"\x00" in head:
        raise APIError(415, f"{name}: binary content in a {ext} file", param="files", code="unsupported_file_type")
    return _Checked(upload, name, size)


def _claim(folder: Path, name: str, staged: Path) -> Path:
    """Give the staged temp file `name`, or `name (n)` if taken; never overwrites. The
    caller removes the temp name; the data stays under the claimed one."""
    stem, suffix = os.path.splitext(name)
    for n in range(10_000):
        target = folder / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            os.link(staged, target)
            return target
        except FileExistsError:
            continue
    raise OSError(f"no free name for {name}")


def _claim_all(folder: Path, items: list[tuple[str, Path]]) -> list[Path]:
    """Claim every name, or none: a failure unlinks the names already claimed."""
    written: list[Path] = []
    try:
        for name, staged in items:
            written.append(_claim(folder, name, staged))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


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


async def _copy_to_workspace(services: Services, user_id: str, session_id: str, path: Path) -> str:
    client = services.tools_client
    if client is None:
        return "copy failed: the tools app is not configured"
    name = path.name
    try:
        fh = await asyncio.to_thread(path.open, "rb")
        try:
            result = await client.upload_file(user_id, session_id, name, fh)  # streamed from the file
        finally:
            fh.close()
    except Exception as exc:  # the client should not raise, but an upload must not fail on it
        log.warning("workspace copy of %s failed: %s", name, exc)
        return f"copy failed: {type(exc).__name__}"
    if not result.success:
        log.warning("workspace copy of %s failed: %s", name, result.answer)
        return f"copy failed: {result.answer[:200]}"
    return "copied"


async def _stage_all(folder: Path, checked: list[_Checked], limit_mb: int, limit: int, temps: list[Path]) -> None:
    for item in checked:
        try:
            path, item.size = await spool.stage_upload(item.upload, folder, limit)
        except spool.TooBig as exc:
            raise _file_too_large(item.name, limit_mb) from exc
        temps.append(path)


def _description(result: str | BaseException) -> str:
    if isinstance(result, file_metadata.DocumentError):  # 413 past the parser's limits (a bomb)
        code = "file_too_complex" if result.status == 413 else "unparseable_file"
        raise APIError(result.status, result.message, param="files", code=code) from result
    if isinstance(result, BaseException):
        raise result
    return result


def _storage_error(folder: Path, exc: OSError) -> APIError:
    log.exception("storing uploads in %s failed", folder)
    return APIError(507, f"could not store the files: {exc.strerror or exc}", type_="api_error", code="storage_error")


async def attach_files(services: Services, user: User, session_id: str, files: list[UploadFile]) -> str:
    """Store `files` (all checked before any is written) and return the description of every
    file in the session, for the agent's prompt. With no files, just the description."""
    settings = services.settings
    folder = uploads_dir(settings.data_dir, user.id, session_id)
    if not files:  # most turns: no quota to check, nothing to stage (one trip off the loop)
        return await asyncio.to_thread(_read_descriptions, folder)
    if len(files) > MAX_FILES:
        raise APIError(400, f"at most {MAX_FILES} files per request", param="files", code="too_many_files")
    limit, limit_mb = settings.max_file_size_bytes, settings.max_file_size_mb
    checked = [await _check(upload, limit_mb, limit) for upload in files]
    await asyncio.to_thread(check_room, settings, user.id, sum(item.size for item in checked))
    with spool.staged() as temps:  # every temp name is gone when this block ends, however it ends
        try:
            await _stage_all(folder, checked, limit_mb, limit, temps)
        except OSError as exc:
            raise _storage_error(folder, exc) from exc
        # Described (in the limited parsing child, which reads the staged file) before any
        # name is claimed: a parser bomb is refused with 413 and leaves no file behind.
        # All finish before any refusal, so no child is still reading a temp file when it goes.
        results = await asyncio.gather(
            *(file_metadata.describe(item.name, path, settings) for item, path in zip(checked, temps, strict=True)),
            return_exceptions=True,
        )
        descriptions = [_description(result) for result in results]
        try:
            items = [(item.name, path) for item, path in zip(checked, temps, strict=True)]
            written = await asyncio.to_thread(_claim_all, folder, items)
        except OSError as exc:
            raise _storage_error(folder, exc) from exc
    for path, item, description in zip(written, checked, descriptions, strict=True):
        workspace = await _copy_to_workspace(services, user.id, session_id, path)
        await asyncio.to_thread(_write_meta, path, item.size, description, workspace)
    return await asyncio.to_thread(_read_descriptions, folder)
