"""What an uploaded file contains, in a few lines the model can read before touching it.

The agent gets this in its system prompt, so it can write code against the real column
names, keys or functions instead of guessing. Everything here is blocking (pandas,
pypdf): call `describe` in a worker thread. A file that cannot be parsed gets a clear
"could not read" line instead of an exception: a corrupt upload never fails a request.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["describe", "MAX_CHARS"]

log = logging.getLogger(__name__)

MAX_CHARS = 1500  # per file: the prompt must stay small however many files arrive
_HEAD_ROWS = 3
_MAX_SHEETS = 10
_MAX_ITEMS = 30


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _json(path: Path) -> list[str]:
    with path.open("rb") as fh:
        data = json.load(fh)
    if isinstance(data, dict):
        keys = list(data)
        shown = ", ".join(f"{k} ({_type_name(data[k])})" for k in keys[:_MAX_ITEMS])
        more = f" and {len(keys) - _MAX_ITEMS} more" if len(keys) > _MAX_ITEMS else ""
        return [f"JSON object with {len(keys)} keys: {shown}{more}"]
    if isinstance(data, list):
        lines = [f"JSON array of {len(data)} items"]
        if data:
            first = data[0]
            if isinstance(first, dict):
                lines.append(
                    "first item keys: "
                    + ", ".join(f"{k} ({_type_name(v)})" for k, v in list(first.items())[:_MAX_ITEMS])
                )
            else:
                lines.append(f"items are {_type_name(first)}s, first: {_clip(json.dumps(first), 120)}")
        return lines
    return [f"JSON {_type_name(data)}: {_clip(json.dumps(data), 120)}"]


def _frame_lines(df: Any, rows: int, label: str = "") -> list[str]:
    cols = ", ".join(f"{c} ({t})" for c, t in list(df.dtypes.astype(str).items())[:_MAX_ITEMS])
    more = f" and {len(df.columns) - _MAX_ITEMS} more" if len(df.columns) > _MAX_ITEMS else ""
    head = df.head(_HEAD_ROWS).to_csv(index=False).strip().splitlines()
    prefix = f"sheet {label!r}: " if label else ""
    return [
        f"{prefix}{rows} rows x {len(df.columns)} columns",
        f"  columns: {cols}{more}",
        "  first rows:",
        *(f"    {_clip(line, 160)}" for line in head),
    ]


def _csv(path: Path) -> list[str]:
    import pandas as pd

    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    first: Any = None
    rows = 0
    # Chunked: the row count covers the whole file without holding it all in memory.
    for chunk in pd.read_csv(path, sep=sep, chunksize=100_000):
        if first is None:
            first = chunk
        rows += len(chunk)
    if first is None:
        return ["CSV with no rows"]
    lines = _frame_lines(first, rows)
    return ["CSV, " + lines[0], *lines[1:]]


def _excel(path: Path) -> list[str]:
    import pandas as pd

    with pd.ExcelFile(path) as book:
        names = list(book.sheet_names)
        lines = [f"Excel workbook, {len(names)} sheet(s)"]
        for name in names[:_MAX_SHEETS]:
            df = book.parse(name)
            lines.extend(_frame_lines(df, len(df), str(name)))
    if len(names) > _MAX_SHEETS:
        lines.append(f"... and {len(names) - _MAX_SHEETS} more sheets")
    return lines


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _python(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8", errors="replace")
    tree = ast.parse(source, filename=path.name)
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


def _pdf(path: Path) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    title = (reader.metadata.title if reader.metadata else None) or ""
    lines = [f"PDF, {len(reader.pages)} page(s)" + (f", title: {_clip(title, 120)}" if title else "")]
    text = ""
    for page in reader.pages[:3]:
        text += " " + (page.extract_text() or "")
        if len(text) > 400:
            break
    lines.append(f"  first text: {_clip(text, 400)}" if text.strip() else "  no extractable text (scanned?)")
    return lines


def _text(path: Path) -> list[str]:
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    lines = [f"text, {len(all_lines)} lines"]
    if path.suffix.lower() == ".md":
        headings = [h.strip() for h in all_lines if h.lstrip().startswith("#")][:20]
        lines.append("  headings: " + ("; ".join(_clip(h, 80) for h in headings) if headings else "none"))
    first = next((line for line in all_lines if line.strip()), "")
    if first:
        lines.append(f"  starts: {_clip(first, 160)}")
    return lines


def _docx(path: Path) -> list[str]:
    import docx

    document = docx.Document(str(path))
    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    styled = [(p, p.style.name if p.style is not None else "") for p in paragraphs]
    headings = [p.text.strip() for p, style in styled if (style or "").startswith(("Heading", "Title"))]
    lines = [f"Word document, {len(paragraphs)} paragraphs, {len(document.tables)} tables"]
    if headings:
        lines.append("  headings: " + "; ".join(_clip(h, 80) for h in headings[:20]))
    if paragraphs:
        lines.append(f"  starts: {_clip(paragraphs[0].text, 160)}")
    return lines


def _image(path: Path) -> list[str]:
    from PIL import Image

    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        return [f"{img.format} image, {img.width}x{img.height}, mode {img.mode}"]


_READERS: dict[str, Callable[[Path], list[str]]] = {
    ".json": _json,
    ".csv": _csv,
    ".tsv": _csv,
    ".xlsx": _excel,
    ".xls": _excel,
    ".py": _python,
    ".pdf": _pdf,
    ".docx": _docx,
    ".png": _image,
    ".jpg": _image,
    ".jpeg": _image,
}


def describe(path: Path) -> str:
    """Lines describing the file at `path`; never raises for a bad file."""
    reader = _READERS.get(path.suffix.lower(), _text)
    try:
        lines = reader(path)
    except Exception as exc:
        log.info("could not read upload %s: %s", path.name, exc)
        kind = path.suffix.lower().lstrip(".").upper() or "file"
        return f"could not read this {kind} file ({type(exc).__name__}: {_clip(str(exc), 160)}); it may be corrupt"
    text = "\n".join(lines)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "\n  … (truncated)"
