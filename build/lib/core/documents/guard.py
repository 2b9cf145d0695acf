"""Checks that run before, and budgets that run during, the parsing of one document.

They live in the child process that parses (core.documents.child), which also has
RLIMIT_AS and RLIMIT_CPU: the caps give a clear message early, the rlimits are the
backstop for whatever the caps did not foresee.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Any

from core.documents.limits import DocumentLimits, ParseError, TooLarge

__all__ = ["check_zip", "BoundedText", "CellBudget", "BoundedZlib", "install_pdf_inflate_limit"]

_RATIO_FLOOR = 1024 * 1024  # members smaller than this unpack harmlessly whatever their ratio


def check_zip(data: bytes, limits: DocumentLimits, kind: str) -> None:
    """Refuse a zip (DOCX, XLSX) whose members claim too much before any is opened.

    zipfile stops a member at its declared size, so the declared sizes bound what can
    be inflated; a member that lies about its size fails its CRC instead."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ParseError(f"unreadable {kind}: not a valid zip archive ({exc})") from exc
    if len(members) > 10_000:
        raise TooLarge(f"the {kind} holds {len(members)} parts (limit 10000)")
    total = 0
    for info in members:
        total += info.file_size
        if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            raise TooLarge(
                f"the {kind} part {info.filename} unpacks {info.file_size // max(info.compress_size, 1)}x "
                f"(limit {limits.max_zip_ratio}x): refused as a decompression bomb"
            )
    if total > limits.max_unpacked_bytes:
        raise TooLarge(
            f"the {kind} unpacks to {total // (1024 * 1024)} MB (limit {limits.max_unpacked_bytes // (1024 * 1024)} MB)"
        )


class BoundedText(io.StringIO):
    """A text sink that refuses to grow past `limit` characters."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.size = 0

    def write(self, s: str) -> int:
        self.size += len(s)
        if self.size > self.limit:
            raise TooLarge(f"the extracted text is longer than {self.limit} characters")
        return super().write(s)


class CellBudget:
    """Counts spreadsheet cells (and rows, each at least one) against the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> None:
        self.used += max(n, 1)
        if self.used > self.limit:
            raise TooLarge(f"the spreadsheet has more than {self.limit} cells")


class _BoundedInflater:
    def __init__(self, owner: BoundedZlib, *args: Any) -> None:
        self._owner = owner
        self._d = zlib.decompressobj(*args)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self._d.decompress(data, self._owner.left + 1)
        self._owner.spend(len(out))
        return out

    def flush(self, *args: Any) -> bytes:
        out = self._d.flush(*args)
        self._owner.spend(len(out))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._d, name)


class BoundedZlib:
    """Stands in for the `zlib` module inside pdfminer: every inflate draws on one budget
    shared by the whole document, so no stream (nor many) can expand past it."""

    error = zlib.error
    MAX_WBITS = zlib.MAX_WBITS

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.left = budget

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise TooLarge(f"the PDF's compressed streams inflate past {self.budget // (1024 * 1024)} MB")

    def decompress(self, data: bytes, wbits: int = zlib.MAX_WBITS, bufsize: int = 0) -> bytes:
        d = zlib.decompressobj(wbits)
        out = d.decompress(data, self.left + 1)
        self.spend(len(out))
        if not d.eof:
            raise zlib.error("incomplete or truncated stream")
        return out

    def decompressobj(self, *args: Any) -> _BoundedInflater:
        return _BoundedInflater(self, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)


def install_pdf_inflate_limit(budget: int) -> BoundedZlib:
    """Make pdfminer inflate through a `BoundedZlib` (only ever done in the parsing child)."""
    import pdfminer.pdftypes

    bounded = BoundedZlib(budget)
    pdfminer.pdftypes.zlib = bounded  # type: ignore[assignment]
    return bounded
