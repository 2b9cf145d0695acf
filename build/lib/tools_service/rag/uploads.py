"""A RAG upload batch, from the request's spooled files to parsed text, never whole in memory.

Every file is checked first (type by extension → 415, size as Starlette counted it → 413),
then copied in chunks (core/spool.py) to a temp file under the user's
`rag/<user>/.incoming/` (so it counts against the user's disk quota while it is there),
and parsed by the limited child, which reads that file by path. Only the extracted text
(capped by DOC_MAX_TEXT_CHARS) comes back into the server. The caller removes the temp
files when the batch ends, indexed or refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import UploadFile

from core import spool
from core.documents import SUPPORTED_EXTENSIONS, DocumentError, DocumentLimits, extension_of, extract_text
from core.errors import APIError
from tools_service.rag.ingest import ParsedFile

__all__ = ["Incoming", "INCOMING", "check_files", "stage_files", "parse_all"]

INCOMING = ".incoming"  # under rag/<user>/; not a collection name (those start with a letter or digit)


@dataclass
class Incoming:
    name: str
    upload: UploadFile
    size: int
    path: Path | None = None


def _too_large(name: str, limit_mb: int) -> APIError:
    return APIError(
        413, f"{name} is larger than MAX_FILE_SIZE_MB={limit_mb}; nothing was indexed", code="file_too_large"
    )


async def check_files(files: Sequence[UploadFile], limit: int, limit_mb: int) -> list[Incoming]:
    """415 for any unsupported type, then 413 for any file over the limit; nothing is read."""
    names = [f.filename or "(unnamed)" for f in files]
    unsupported = [n for n in names if extension_of(n) not in SUPPORTED_EXTENSIONS]
    if unsupported:
        raise APIError(
            415,
            f"unsupported file type: {', '.join(unsupported)} (supported: "
            f"{' '.join(SUPPORTED_EXTENSIONS)}); nothing was indexed",
            code="unsupported_media_type",
        )
    out: list[Incoming] = []
    for name, upload in zip(names, files, strict=True):
        size = await spool.upload_size(upload)
        if size > limit:
            raise _too_large(name, limit_mb)
        out.append(Incoming(name, upload, size))
    return out


async def stage_files(items: list[Incoming], folder: Path, limit: int, limit_mb: int, temps: list[Path]) -> None:
    """Copy each file to a temp file in `folder` (appended to `temps`, which the caller removes)."""
    for item in items:
        try:
            item.path, item.size = await spool.stage_upload(item.upload, folder, limit)
        except spool.TooBig as exc:
            raise _too_large(item.name, limit_mb) from exc
        temps.append(item.path)


async def parse_all(items: list[Incoming], limits: DocumentLimits) -> list[ParsedFile]:
    """Parse every staged file in a limited child process (core.documents); a bomb answers 413."""
    jobs = []
    for item in items:
        if item.path is None:
            raise RuntimeError(f"{item.name} was not staged")
        jobs.append(extract_text(item.name, item.path, limits))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    parsed: list[ParsedFile] = []
    errors: list[DocumentError] = []
    for item, result in zip(items, results, strict=True):
        if isinstance(result, DocumentError):
            errors.append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            parsed.append(ParsedFile(item.name, item.size, result))
    if errors:
        status = max(e.status for e in errors)
        raise APIError(
            status,
            f"could not parse {'; '.join(e.message for e in errors)}. The whole batch was refused and nothing "
            "was indexed; fix or remove the file(s) and upload again",
            code="file_too_complex" if status == 413 else "unparseable_file",
        )
    return parsed
