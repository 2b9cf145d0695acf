"""Limits on parsing one untrusted document, and the errors that name the file.

Every cap here exists because a small file can claim or unpack into something huge: a
4.7 KB XLSX whose `<dimension>` claims 16384 columns, a PDF stream that inflates to a
gigabyte, a DOCX whose XML unpacks to 300 million characters. Resource limits (size,
memory, time) answer 413; malformed files 422; unknown types 415.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DocumentLimits", "DocumentError", "UnsupportedType", "ParseError", "TooLarge"]


@dataclass(frozen=True)
class DocumentLimits:
    timeout: float = 30.0  # wall clock per file (the child is killed after it)
    memory_mb: int = 768  # RLIMIT_AS of the parsing child
    max_unpacked_bytes: int = 100 * 1024 * 1024  # zip members together, or inflated PDF streams
    max_zip_ratio: int = 200  # uncompressed/compressed for any zip member above 1 MB unpacked
    max_cells: int = 2_000_000  # spreadsheet cells (padding and missing rows count)
    max_text_chars: int = 20_000_000  # extracted text

    @classmethod
    def from_settings(cls, settings: Any) -> DocumentLimits:
        return cls(
            timeout=float(settings.doc_parse_timeout),
            memory_mb=int(settings.doc_parse_memory_mb),
            max_unpacked_bytes=int(settings.doc_max_unpacked_mb) * 1024 * 1024,
            max_zip_ratio=int(settings.doc_max_zip_ratio),
            max_cells=int(settings.doc_max_cells),
            max_text_chars=int(settings.doc_max_text_chars),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DocumentError(ValueError):
    """A document could not be used; `status` is the HTTP answer, the message names the file."""

    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedType(DocumentError):
    status = 415


class ParseError(DocumentError):
    status = 422


class TooLarge(DocumentError):
    """The document unpacks, or parses, into more than the limits allow (a parser bomb or
    simply too big): refused whole, nothing of it is kept."""

    status = 413


ERRORS: dict[int, type[DocumentError]] = {415: UnsupportedType, 422: ParseError, 413: TooLarge}
