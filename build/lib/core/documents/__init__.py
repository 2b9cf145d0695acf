"""The one document parser of both apps: text for RAG, descriptions for chat uploads.

Untrusted documents are parsed in a child process (`python -m core.documents`) with
RLIMIT_AS, RLIMIT_CPU and a timeout, and with caps on unpacked bytes, spreadsheet cells
and extracted text (core/documents/guard.py). Errors name the file and carry the HTTP
status to answer: 413 past a limit (parser bombs), 415 unknown type, 422 malformed.

A document is given as bytes (small ones, tests) or as the `Path` of a file on disk
(uploads): the child then reads the file itself, under its own limits, so a large upload
is never whole in a server's memory.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePath

from core.documents.limits import DocumentError, DocumentLimits, ParseError, TooLarge, UnsupportedType
from core.documents.runner import Source, run_child, run_child_sync

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Source",
    "DocumentError",
    "DocumentLimits",
    "ParseError",
    "TooLarge",
    "UnsupportedType",
    "describe_file",
    "extension_of",
    "extract_text",
    "extract_text_sync",
]

# What RAG indexes (core/documents/text.py TEXT_FORMATS, listed here so importing this
# package does not import the parsers).
SUPPORTED_EXTENSIONS = (".txt", ".md", ".json", ".csv", ".pdf", ".docx", ".xlsx", ".xls")


def extension_of(filename: str) -> str:
    return PurePath(filename).suffix.lower()


def _ext(filename: str) -> str:
    ext = extension_of(filename)
    if ext not in SUPPORTED_EXTENSIONS:
        raise UnsupportedType(f"{filename}: unsupported file type {ext or '(none)'}")
    return ext


# Plain text up to this size is decoded in-process: decoding unpacks nothing, costs time and
# memory in proportion to the bytes, and a child process per file (~0.3 s of start-up)
# would make a 300-file upload take minutes. Everything else goes to the limited child.
_INLINE = (".txt", ".md")
_INLINE_MAX_BYTES = 1 << 20


def _small_text(ext: str, source: Source) -> bytes | None:
    """The bytes of a plain-text document small enough to decode here, else None (blocking)."""
    if ext not in _INLINE:
        return None
    if isinstance(source, bytes):
        return source if len(source) <= _INLINE_MAX_BYTES else None
    with source.open("rb") as fh:  # a bounded read: one byte past the threshold
        data = fh.read(_INLINE_MAX_BYTES + 1)
    return data if len(data) <= _INLINE_MAX_BYTES else None


def _inline_text(filename: str, ext: str, data: bytes, limits: DocumentLimits) -> str:
    from core.documents.text import extract_text as extract

    try:
        return extract(ext, data, limits)
    except DocumentError as exc:
        raise type(exc)(f"{filename}: {exc}") from exc


async def extract_text(filename: str, source: Source, limits: DocumentLimits | None = None) -> str:
    """Plain text of an uploaded document (bytes or a file's path): small plain text here,
    the rest in a limited child."""
    ext, limits = _ext(filename), limits or DocumentLimits()
    small = _small_text(ext, source) if isinstance(source, bytes) else await asyncio.to_thread(_small_text, ext, source)
    if small is not None:
        return _inline_text(filename, ext, small, limits)
    return await run_child("text", filename, ext, source, limits)


def extract_text_sync(filename: str, source: Source, limits: DocumentLimits | None = None) -> str:
    ext, limits = _ext(filename), limits or DocumentLimits()
    if (small := _small_text(ext, source)) is not None:
        return _inline_text(filename, ext, small, limits)
    return run_child_sync("text", filename, ext, source, limits)


async def describe_file(filename: str, source: Source, limits: DocumentLimits | None = None) -> str:
    """A few lines about the file (bytes or a file's path) for the model's prompt; a corrupt
    file gets a "could not read" line, a file past the limits raises `TooLarge`."""
    return await run_child("describe", filename, extension_of(filename), source, limits or DocumentLimits())
