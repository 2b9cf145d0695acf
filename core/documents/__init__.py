"""The one document parser of both apps: text for RAG, descriptions for chat uploads.

Untrusted documents are parsed in a child process (`python -m core.documents`) with
RLIMIT_AS, RLIMIT_CPU and a timeout, and with caps on unpacked bytes, spreadsheet cells
and extracted text (core/documents/guard.py). Errors name the file and carry the HTTP
status to answer: 413 past a limit (parser bombs), 415 unknown type, 422 malformed.
"""

from __future__ import annotations

from pathlib import PurePath

from core.documents.limits import DocumentError, DocumentLimits, ParseError, TooLarge, UnsupportedType
from core.documents.runner import run_child, run_child_sync

__all__ = [
    "SUPPORTED_EXTENSIONS",
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


def _inline_text(filename: str, ext: str, data: bytes, limits: DocumentLimits) -> str:
    from core.documents.text import extract_text as extract

    try:
        return extract(ext, data, limits)
    except DocumentError as exc:
        raise type(exc)(f"{filename}: {exc}") from exc


async def extract_text(filename: str, data: bytes, limits: DocumentLimits | None = None) -> str:
    """Plain text of an uploaded document: small plain text here, the rest in a limited child."""
    ext, limits = _ext(filename), limits or DocumentLimits()
    if ext in _INLINE and len(data) <= _INLINE_MAX_BYTES:
        return _inline_text(filename, ext, data, limits)
    return await run_child("text", filename, ext, data, limits)


def extract_text_sync(filename: str, data: bytes, limits: DocumentLimits | None = None) -> str:
    ext, limits = _ext(filename), limits or DocumentLimits()
    if ext in _INLINE and len(data) <= _INLINE_MAX_BYTES:
        return _inline_text(filename, ext, data, limits)
    return run_child_sync("text", filename, ext, data, limits)


async def describe_file(filename: str, data: bytes, limits: DocumentLimits | None = None) -> str:
    """A few lines about the file for the model's prompt; a corrupt file gets a "could not
    read" line, a file past the limits raises `TooLarge`."""
    return await run_child("describe", filename, extension_of(filename), data, limits or DocumentLimits())
