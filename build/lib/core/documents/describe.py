"""What an uploaded file contains, in a few lines the model can read before touching it.

The agent gets this in its system prompt, so it can write code against the real column
names, keys or functions instead of guessing. A file that cannot be parsed gets a clear
"could not read" line (a corrupt upload never fails a request); a file that blows a limit
(`TooLarge`) is refused by the caller. Runs in the parsing child, like `text.py`.
"""

from __future__ import annotations

import ast
import io
import json
import logging
from collections.abc import Callable
from typing import Any

from core.documents.guard import check_zip, install_pdf_inflate_limit
from core.documents.limits import DocumentLimits, TooLarge
from core.documents.tables import _csv, _tsv, _xls, _xlsx
from core.documents.text import load_json

__all__ = ["describe", "MAX_CHARS"]

log = logging.getLogger(__name__)

MAX_CHARS = 1500  # per file: the prompt must stay small however many files arrive
_HEAD_ROWS = 3
_MAX_SHEETS = 10
_MAX_ITEMS = 30
_TYPE_SAMPLE = 1000


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _json(data: bytes, limits: DocumentLimits) -> list[str]:
    value = load_json(data)
    if isinstance(value, dict):
        keys = list(value)
        shown = ", ".join(f"{k} ({_type_name(value[k])})" for k in keys[:_MAX_ITEMS])
        more = f" and {len(keys) - _MAX_ITEMS} more" if len(keys) > _MAX_ITEMS else ""
        return [f"JSON object with {len(keys)} keys: {shown}{more}"]
    if isinstance(value, list):
        lines = [f"JSON array of {len(value)} items"]
        if value:
            first = value[0]
            if isinstance(first, dict):
                items = list(first.items())[:_MAX_ITEMS]
                lines.append("first item keys: " + ", ".join(f"{k} ({_type_name(v)})" for k, v in items))
            else:
                lines.append(f"items are {_type_name(first)}s, first: {_clip(json.dumps(first), 120)}")
        return lines
    return [f"JSON {_type_name(value)}: {_clip(json.dumps(value), 120)}"]


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _python(data: bytes, limits: DocumentLimits) -> list[str]:
    source = data.decode("utf-8", errors="replace")
    tree = ast.parse(source)
    lines = [f"Python module, {len(source.splitlines())} lines"]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.append(f"  {_signature(node)}")
        elif isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            lines.append(f"  class {node.name}({bases})" if bases else f"  class {node.name}")
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines.append(f"    {_signature(item)}")
    if len(lines) == 1:
        lines.append("  no top-level functions or classes")
    return lines


def _pdf(data: bytes, limits: DocumentLimits) -> list[str]:
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    install_pdf_inflate_limit(limits.max_unpacked_bytes)
    document = PDFDocument(PDFParser(io.BytesIO(data)))
    pages = sum(1 for _ in PDFPage.create_pages(document))
    title: Any = resolve1(document.info[0].get("Title")) if document.info else None
    if isinstance(title, bytes):
        title = decode_text(title)
    title = title if isinstance(title, str) else ""
    lines = [f"PDF, {pages} page(s)" + (f", title: {_clip(title, 120)}" if title else "")]
    text = _first_text(data, 3, 2000)
    lines.append(f"  first text: {_clip(text, 400)}" if text.strip() else "  no extractable text (scanned?)")
    return lines


class _Enough(Exception):
    pass


class _Sink(io.StringIO):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.left = limit

    def write(self, s: str) -> int:
        written = super().write(s[: max(self.left, 0)])
        self.left -= len(s)
        if self.left <= 0:
            raise _Enough
        return written


def _first_text(data: bytes, pages: int, chars: int) -> str:
    """The first `chars` characters of the first `pages` pages: a summary needs no more."""
    from pdfminer.converter import TextConverter
    from pdfminer.layout import LAParams
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    sink = _Sink(chars)
    manager = PDFResourceManager()
    interpreter = PDFPageInterpreter(manager, TextConverter(manager, sink, codec="utf-8", laparams=LAParams()))
    try:
        for page in PDFPage.get_pages(io.BytesIO(data), maxpages=pages):
            interpreter.process_page(page)
    except _Enough:
        pass
    return sink.getvalue()


def _text(data: bytes, limits: DocumentLimits, markdown: bool = False) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    lines = [f"text, {len(all_lines)} lines"]
    if markdown:
        headings = [h.strip() for h in all_lines if h.lstrip().startswith("#")][:20]
        lines.append("  headings: " + ("; ".join(_clip(h, 80) for h in headings) if headings else "none"))
    first = next((line for line in all_lines if line.strip()), "")
    if first:
        lines.append(f"  starts: {_clip(first, 160)}")
    return lines


def _markdown(data: bytes, limits: DocumentLimits) -> list[str]:
    return _text(data, limits, markdown=True)


def _docx(data: bytes, limits: DocumentLimits) -> list[str]:
    import docx

    check_zip(data, limits, "DOCX")
    document = docx.Document(io.BytesIO(data))
    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    styled = [(p, p.style.name if p.style is not None else "") for p in paragraphs]
    headings = [p.text.strip() for p, style in styled if (style or "").startswith(("Heading", "Title"))]
    lines = [f"Word document, {len(paragraphs)} paragraphs, {len(document.tables)} tables"]
    if headings:
        lines.append("  headings: " + "; ".join(_clip(h, 80) for h in headings[:20]))
    if paragraphs:
        lines.append(f"  starts: {_clip(paragraphs[0].text, 160)}")
    return lines


def _image(data: bytes, limits: DocumentLimits) -> list[str]:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = 50_000_000  # a decompression-bomb image fails instead of allocating
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        return [f"{img.format} image, {img.width}x{img.height}, mode {img.mode}"]


_READERS: dict[str, Callable[[bytes, DocumentLimits], list[str]]] = {
    ".json": _json,
    ".csv": _csv,
    ".tsv": _tsv,
    ".xlsx": _xlsx,
    ".xls": _xls,
    ".py": _python,
    ".pdf": _pdf,
    ".docx": _docx,
    ".png": _image,
    ".jpg": _image,
    ".jpeg": _image,
    ".md": _markdown,
}


def describe(ext: str, data: bytes, limits: DocumentLimits) -> str:
    """Lines describing a file of type `ext`; a bad file gets a "could not read" line, a file
    past the limits raises `TooLarge` (and exhausting memory raises MemoryError)."""
    reader = _READERS.get(ext, _text)
    try:
        lines = reader(data, limits)
    except (TooLarge, MemoryError, RecursionError):
        raise
    except Exception as exc:
        log.info("could not read an upload of type %s: %s", ext, exc)
        kind = ext.lstrip(".").upper() or "file"
        return f"could not read this {kind} file ({type(exc).__name__}: {_clip(str(exc), 160)}); it may be corrupt"
    text = "\n".join(lines)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "\n  … (truncated)"
