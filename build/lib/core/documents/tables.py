"""Describing tables (CSV, TSV, Excel sheets): column names, inferred types, first rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from core.documents.guard import CellBudget
from core.documents.limits import DocumentLimits
from core.documents.text import decode, xls_rows, xlsx_rows

__all__ = ["_csv", "_tsv", "_xlsx", "_xls", "_table_lines"]

_HEAD_ROWS = 3
_MAX_SHEETS = 10
_TYPE_SAMPLE = 1000
_MAX_ITEMS = 30


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _dtype(values: list[Any]) -> str:
    """pandas-style dtype names, which the model's pandas code will meet."""
    seen = [v for v in values if v not in (None, "")]
    if not seen:
        return "object"
    if all(isinstance(v, bool) for v in seen):
        return "bool"
    if all(isinstance(v, datetime | date) for v in seen):
        return "datetime64[ns]"

    def number(v: Any, kind: type) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, int | float):
            return kind is float or isinstance(v, int)
        try:
            kind(str(v).strip())
            return True
        except ValueError:
            return False

    if all(number(v, int) for v in seen):
        return "int64"
    if all(number(v, float) for v in seen):
        return "float64"
    return "object"


def _table_lines(rows: Iterable[Any], label: str = "") -> list[str]:
    """Header, dtypes and first rows of a table whose first row names the columns."""
    header: list[str] | None = None
    sample: list[list[Any]] = []
    count = 0
    for row in rows:
        row = list(row)
        if header is None:
            if not any(v not in (None, "") for v in row):
                continue
            header = ["" if v is None else str(v) for v in row]
            continue
        if not any(v not in (None, "") for v in row):
            continue
        count += 1
        if len(sample) < _TYPE_SAMPLE:
            sample.append(row)
    if header is None:
        return [f"{label}0 rows x 0 columns"]
    width = len(header)
    cols = [f"{name} ({_dtype([r[i] if i < len(r) else None for r in sample])})" for i, name in enumerate(header)]
    more = f" and {width - _MAX_ITEMS} more" if width > _MAX_ITEMS else ""
    head = [",".join(header)] + [",".join("" if v is None else str(v) for v in r) for r in sample[:_HEAD_ROWS]]
    return [
        f"{label}{count} rows x {width} columns",
        f"  columns: {', '.join(cols[:_MAX_ITEMS])}{more}",
        "  first rows:",
        *(f"    {_clip(line, 160)}" for line in head),
    ]


def _csv(data: bytes, limits: DocumentLimits, sep: str = ",") -> list[str]:
    budget = CellBudget(limits.max_cells)

    def rows() -> Iterable[list[str]]:
        for row in csv.reader(io.StringIO(decode(data)), delimiter=sep):
            budget.take(len(row))
            yield row

    lines = _table_lines(rows())
    return ["CSV, " + lines[0], *lines[1:]]


def _tsv(data: bytes, limits: DocumentLimits) -> list[str]:
    return _csv(data, limits, "\t")


def _sheets(kind: str, sheets: list[tuple[str, Any]]) -> list[str]:
    lines = [f"Excel workbook, {len(sheets)} sheet(s)"]
    for name, rows in sheets[:_MAX_SHEETS]:
        lines.extend(_table_lines(rows, f"sheet {name!r}: "))
    if len(sheets) > _MAX_SHEETS:
        lines.append(f"... and {len(sheets) - _MAX_SHEETS} more sheets")
    return lines


def _xlsx(data: bytes, limits: DocumentLimits) -> list[str]:
    return _sheets("XLSX", xlsx_rows(data, limits))


def _xls(data: bytes, limits: DocumentLimits) -> list[str]:
    return _sheets("XLS", xls_rows(data, limits))
