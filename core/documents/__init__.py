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


async def extract_text(filename: str, data: bytes, limits: DocumentLimits | None = None) -> str:
    """Plain text of an uploaded document, parsed in a limited child process."""
    return await run_child("text", filename, _ext(filename), data, limits or DocumentLimits())


def extract_text_sync(filename: str, data: bytes, limits: DocumentLimits | None = None) -> str:
    return run_child_sync("text", filename, _ext(filename), data, limits or DocumentLimits())


async def describe_file(filename: str, data: bytes, limits: DocumentLimits | None = None) -> str:
    """A few lines about the file for the model's prompt; a corrupt file gets a "could not
    read" line, a file past the limits raises `TooLarge`."""
    return await run_child("describe", filename, extension_of(filename), data, limits or DocumentLimits())
