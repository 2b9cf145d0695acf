"""Uploaded file → plain text, with no model downloads.

`unstructured` is not used: its fast strategies call spaCy's `en_core_web_sm` (fetched
from the internet on first use) for .txt/.md/.docx, and its PDF extra pulls a CUDA torch
(DESIGN section 7). Each format is read by its own small, offline library instead:
pdfminer.six (what unstructured's `fast` PDF strategy uses), python-docx, openpyxl and
xlrd, plus the standard library for text, Markdown, JSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

__all__ = ["SUPPORTED_EXTENSIONS", "ParseError", "UnsupportedType", "extension_of", "parse_document"]

log = logging.getLogger(__name__)


class UnsupportedType(ValueError):
    """The file's extension is not one we can index (HTTP 415)."""


class ParseError(ValueError):
    """The file has a supported extension but could not be read (HTTP 422)."""


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    # Legacy files are usually cp1252/latin-1; latin-1 never fails, so nothing is dropped.
    return data.decode("latin-1")


def _json(data: bytes) -> str:
    try:
        value = json.loads(_decode(data))
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc}") from exc
    lines: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]")
        elif node is not None:
            lines.append(f"{path}: {node}" if path else str(node))

    walk(value, "")
    return "\n".join(lines)


def _csv(data: bytes) -> str:
    text = _decode(data)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ParseError(f"invalid CSV: {exc}") from exc
    return "\n".join(" | ".join(cell.strip() for cell in row) for row in rows if any(c.strip() for c in row))


def _pdf(data: bytes) -> str:
    from pdfminer.high_level import extract_text
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        return str(extract_text(io.BytesIO(data)))
    except (PDFSyntaxError, ValueError, TypeError, KeyError, AssertionError) as exc:
        raise ParseError(f"unreadable PDF: {exc}") from exc
    except Exception as exc:  # pdfminer raises many private types for broken files
        raise ParseError(f"unreadable PDF: {type(exc).__name__}") from exc


def _docx(data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile.BadZipFile, KeyError, lxml errors…
        raise ParseError(f"unreadable DOCX: {type(exc).__name__}") from exc
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(parts)


def _rows_to_text(sheets: list[tuple[str, list[list[Any]]]]) -> str:
    out: list[str] = []
    for name, rows in sheets:
        out.append(f"# {name}")
        for row in rows:
            cells = ["" if v is None else str(v) for v in row]
            if any(cells):
                out.append(" | ".join(cells))
    return "\n".join(out)


def _xlsx(data: bytes) -> str:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ParseError(f"unreadable XLSX: {type(exc).__name__}") from exc
    try:
        return _rows_to_text([(ws.title, [list(r) for r in ws.iter_rows(values_only=True)]) for ws in book.worksheets])
    finally:
        book.close()


def _xls(data: bytes) -> str:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=False)
    except Exception as exc:  # xlrd.XLRDError, CompDocError, struct.error…
        raise ParseError(f"unreadable XLS: {type(exc).__name__}: {exc}") from exc
    sheets = []
    for sheet in book.sheets():
        sheets.append((sheet.name, [sheet.row_values(i) for i in range(sheet.nrows)]))
    return _rows_to_text(sheets)


_PARSERS: dict[str, Callable[[bytes], str]] = {
    ".txt": _decode,
    ".md": _decode,
    ".json": _json,
    ".csv": _csv,
    ".pdf": _pdf,
    ".docx": _docx,
    ".xlsx": _xlsx,
    ".xls": _xls,
}
SUPPORTED_EXTENSIONS = tuple(_PARSERS)


def extension_of(filename: str) -> str:
    return PurePath(filename).suffix.lower()


def parse_document(filename: str, data: bytes) -> str:
    """Text of one uploaded file; raises UnsupportedType or ParseError (never anything else)."""
    ext = extension_of(filename)
    parser = _PARSERS.get(ext)
    if parser is None:
        raise UnsupportedType(f"{filename}: unsupported file type {ext or '(none)'}")
    try:
        text = parser(data)
    except ParseError as exc:
        raise ParseError(f"{filename}: {exc}") from exc
    except Exception as exc:
        log.warning("parsing %s failed: %s", filename, exc)
        raise ParseError(f"{filename}: could not be parsed ({type(exc).__name__})") from exc
    text = text.replace("\x00", "").strip()
    if not text:
        raise ParseError(f"{filename}: contains no extractable text")
    return text
