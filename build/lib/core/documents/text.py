"""Document → plain text (for RAG), one small offline library per format, every read capped.

`unstructured` is not used: its fast strategies call spaCy's `en_core_web_sm` (fetched
from the internet on first use) for .txt/.md/.docx, and its PDF extra pulls a CUDA torch
(DESIGN section 7). pdfminer.six, python-docx, openpyxl and xlrd read the binary formats,
the standard library the rest. These functions trust nothing about the input but are not
safe to run in a server process by themselves: `core.documents.runner` runs them in a
child with rlimits and a timeout.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from core.documents.guard import BoundedText, CellBudget, check_zip, install_pdf_inflate_limit
from core.documents.limits import DocumentLimits, ParseError, TooLarge

__all__ = ["TEXT_FORMATS", "decode", "extract_text", "rows_to_text", "xlsx_rows"]


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    # Legacy files are usually cp1252/latin-1; latin-1 never fails, so nothing is dropped.
    return data.decode("latin-1")


def load_json(data: bytes) -> Any:
    try:
        return json.loads(decode(data))
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ParseError("invalid JSON: nested too deeply") from exc


def _json(data: bytes, limits: DocumentLimits) -> str:
    out = BoundedText(limits.max_text_chars)
    stack: list[tuple[Any, str]] = [(load_json(data), "")]
    while stack:  # iterative: deep nesting must not exhaust the C stack
        node, path = stack.pop()
        if isinstance(node, dict):
            stack.extend((child, f"{path}.{key}" if path else str(key)) for key, child in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(node))))
        elif node is not None:
            out.write((f"{path}: {node}" if path else str(node)) + "\n")
    return out.getvalue()


def _csv(data: bytes, limits: DocumentLimits) -> str:
    out = BoundedText(limits.max_text_chars)
    cells = CellBudget(limits.max_cells)
    try:
        for row in csv.reader(io.StringIO(decode(data))):
            cells.take(len(row))
            if any(c.strip() for c in row):
                out.write(" | ".join(cell.strip() for cell in row) + "\n")
    except csv.Error as exc:
        raise ParseError(f"invalid CSV: {exc}") from exc
    return out.getvalue()


def _pdf(data: bytes, limits: DocumentLimits) -> str:
    from pdfminer.converter import TextConverter
    from pdfminer.layout import LAParams
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    install_pdf_inflate_limit(limits.max_unpacked_bytes)
    out = BoundedText(limits.max_text_chars)
    try:
        manager = PDFResourceManager(caching=True)
        device = TextConverter(manager, out, codec="utf-8", laparams=LAParams())
        interpreter = PDFPageInterpreter(manager, device)
        for page in PDFPage.get_pages(io.BytesIO(data), caching=True):
            interpreter.process_page(page)
    except (TooLarge, MemoryError):
        raise
    except Exception as exc:  # pdfminer raises many private types for broken files
        raise ParseError(f"unreadable PDF: {type(exc).__name__}") from exc
    return out.getvalue()


def _docx(data: bytes, limits: DocumentLimits) -> str:
    import docx

    check_zip(data, limits, "DOCX")
    try:
        document = docx.Document(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, KeyError, lxml errors…
        raise ParseError(f"unreadable DOCX: {type(exc).__name__}") from exc
    out = BoundedText(limits.max_text_chars)
    for p in document.paragraphs:
        if p.text.strip():
            out.write(p.text + "\n")
    for table in document.tables:
        for row in table.rows:
            out.write(" | ".join(cell.text.strip() for cell in row.cells) + "\n")
    return out.getvalue()


def xlsx_rows(data: bytes, limits: DocumentLimits) -> list[tuple[str, Any]]:
    """(sheet title, row iterator) for each sheet, without trusting `<dimension>`: read-only
    openpyxl pads every row to the claimed width, so the dimensions are reset first and
    every yielded row (missing ones too) is counted against the cell budget."""
    import openpyxl

    check_zip(data, limits, "XLSX")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except MemoryError:
        raise
    except Exception as exc:
        raise ParseError(f"unreadable XLSX: {type(exc).__name__}") from exc
    budget = CellBudget(limits.max_cells)

    def rows(ws: Any) -> Any:
        ws.reset_dimensions()
        for row in ws.iter_rows(values_only=True):
            budget.take(len(row))
            yield row

    return [(ws.title, rows(ws)) for ws in book.worksheets if hasattr(ws, "reset_dimensions")]


def rows_to_text(sheets: list[tuple[str, Any]], limits: DocumentLimits) -> str:
    out = BoundedText(limits.max_text_chars)
    for name, rows in sheets:
        out.write(f"# {name}\n")
        for row in rows:
            cells = ["" if v is None else str(v) for v in row]
            if any(cells):
                out.write(" | ".join(cells) + "\n")
    return out.getvalue()


def _xlsx(data: bytes, limits: DocumentLimits) -> str:
    return rows_to_text(xlsx_rows(data, limits), limits)


def xls_rows(data: bytes, limits: DocumentLimits) -> list[tuple[str, Any]]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=False)
    except MemoryError:
        raise
    except Exception as exc:  # xlrd.XLRDError, CompDocError, struct.error…
        raise ParseError(f"unreadable XLS: {type(exc).__name__}: {exc}") from exc
    budget = CellBudget(limits.max_cells)

    def rows(sheet: Any) -> Any:
        for i in range(sheet.nrows):
            values = sheet.row_values(i)
            budget.take(len(values))
            yield values

    return [(sheet.name, rows(sheet)) for sheet in book.sheets()]


def _xls(data: bytes, limits: DocumentLimits) -> str:
    return rows_to_text(xls_rows(data, limits), limits)


def _plain(data: bytes, limits: DocumentLimits) -> str:
    text = decode(data)
    if len(text) > limits.max_text_chars:
        raise TooLarge(f"the text is longer than {limits.max_text_chars} characters")
    return text


TEXT_FORMATS: dict[str, Callable[[bytes, DocumentLimits], str]] = {
    ".txt": _plain,
    ".md": _plain,
    ".json": _json,
    ".csv": _csv,
    ".pdf": _pdf,
    ".docx": _docx,
    ".xlsx": _xlsx,
    ".xls": _xls,
}


def extract_text(ext: str, data: bytes, limits: DocumentLimits) -> str:
    """Text of a document of type `ext`; raises DocumentError subclasses (or MemoryError)."""
    text = TEXT_FORMATS[ext](data, limits).replace("\x00", "").strip()
    if not text:
        raise ParseError("contains no extractable text")
    return text
