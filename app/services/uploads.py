"""Files attached to a chat: stored safely per user and session, described for the model."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import UploadFile

from app.db import User
from app.errors import APIError
from app.services import runtime_settings
from app.services.container import Services

__all__ = ["ALLOWED_EXTENSIONS", "safe_filename", "attach_files", "default_model"]

log = logging.getLogger(__name__)

ALLOWED_EXTENSIONS = frozenset(
    {".txt", ".md", ".json", ".csv", ".tsv", ".py", ".pdf", ".docx", ".xlsx", ".xls", ".yaml", ".yml", ".xml",
     ".html", ".log", ".png", ".jpg", ".jpeg"}
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


def safe_filename(name: str) -> str:
    """The last path component only, with no control or shell-special characters."""
    base = name.replace("\\", "/").split("/")[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:120] or "file"


def _unique(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = os.path.splitext(name)
    n = 1
    while target.exists():
        target = folder / f"{stem} ({n}){suffix}"
        n += 1
    return target


async def attach_files(services: Services, user: User, session_id: str, files: list[UploadFile]) -> str:
    """Store the files (all checked before any is written) and return a description for the prompt."""
    settings = services.settings
    checked: list[tuple[str, bytes]] = []
    for upload in files:
        name = safe_filename(upload.filename or "file")
        ext = os.path.splitext(name)[1].lower()
        if ext not in ALLOWED_EXTENSIONS:
            raise APIError(415, f"{name}: file type {ext or '(none)'} is not supported", param="files")
        content = await upload.read(settings.max_file_size_bytes + 1)
        if len(content) > settings.max_file_size_bytes:
            raise APIError(413, f"{name}: larger than MAX_FILE_SIZE_MB={settings.max_file_size_mb}", param="files")
        checked.append((name, content))
    folder = settings.data_dir / "uploads" / user.id / session_id
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["The user attached these files (also in your Python workspace):"]
    for name, content in checked:
        target = _unique(folder, name)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(content)
        os.replace(tmp, target)
        lines.append(f"- {target.name} ({len(content)} bytes)")
    return "\n".join(lines)


async def default_model(services: Services, db: AsyncSession) -> str | None:
    """The backend model an admin chose with POST /api/admin/model, if any."""
    return await runtime_settings.get_value(db, runtime_settings.DEFAULT_MODEL_KEY)
