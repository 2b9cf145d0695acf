"""Uploaded file → plain text: a thin name for `core.documents`, the one parser of both apps."""

from __future__ import annotations

from core.documents import (
    SUPPORTED_EXTENSIONS,
    DocumentLimits,
    ParseError,
    TooLarge,
    UnsupportedType,
    extension_of,
    extract_text,
    extract_text_sync,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ParseError",
    "TooLarge",
    "UnsupportedType",
    "extension_of",
    "extract_text",
    "parse_document",
]


def parse_document(filename: str, data: bytes, limits: DocumentLimits | None = None) -> str:
    """Text of one file, parsed in a limited child process; raises UnsupportedType,
    ParseError or TooLarge (all `core.documents.DocumentError`, naming the file)."""
    return extract_text_sync(filename, data, limits)
