"""Test helpers for RAG: a deterministic embedding model and sample files of every format.

`HashEmbeddings` is the hashing trick (each word → a fixed random direction), so texts
that share words are close and results are reproducible without loading a model. It
stands in for the external embedding model only; everything of ours runs for real.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import threading

import numpy as np
from langchain_core.embeddings import Embeddings

__all__ = ["HashEmbeddings", "minimal_pdf", "minimal_xls", "pdf_from_objects", "sample_files"]


class HashEmbeddings(Embeddings):
    def __init__(self, dim: int = 256, fail_after: int | None = None) -> None:
        self.dim = dim
        self.fail_after = fail_after  # raise once this many documents were embedded
        self.embedded = 0
        self._lock = threading.Lock()

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0:
            vec[0] = 1.0
            norm = 1.0
        return (vec / norm).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self.fail_after is not None and self.embedded + len(texts) > self.fail_after:
                raise RuntimeError("embedding backend crashed")
            self.embedded += len(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def minimal_pdf(text: str) -> bytes:
    """A valid one-page PDF with `text` in Helvetica, built by hand (xref offsets exact)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_from_objects(objects)


def pdf_from_objects(objects: list[bytes]) -> bytes:
    """A PDF file of these numbered objects (1 is the catalog), with an exact xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _record(rtype: int, data: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(data)) + data


def _label(row: int, col: int, text: str) -> bytes:
    raw = text.encode("latin-1")
    return _record(0x0204, struct.pack("<HHHHB", row, col, 0, len(raw), 0) + raw)


def minimal_xls(rows: list[list[str | float]], sheet: str = "Sheet1") -> bytes:
    """A genuine BIFF8 workbook in an OLE2 compound file (what Excel 97-2003 writes),
    built by hand because no maintained library writes .xls any more."""
    bof = lambda kind: _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))  # noqa: E731
    eof = _record(0x000A, b"")
    name = sheet.encode("latin-1")
    boundsheet_len = 4 + 8 + len(name)
    globals_len = len(bof(5)) + boundsheet_len + len(eof)
    sheet_stream = bof(0x10) + _record(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, max(map(len, rows)), 0))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str):
                sheet_stream += _label(r, c, value)
            else:
                sheet_stream += _record(0x0203, struct.pack("<HHHd", r, c, 0, float(value)))
    sheet_stream += eof
    boundsheet = _record(0x0085, struct.pack("<IBBBB", globals_len, 0, 0, len(name), 0) + name)
    workbook = bof(5) + boundsheet + eof + sheet_stream
    workbook += b"\x00" * (max(4096, -(-len(workbook) // 512) * 512) - len(workbook))  # stay out of the mini stream
    n_sectors = len(workbook) // 512
    end, free, fat_sect = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    fat = [fat_sect, end] + [i + 3 for i in range(n_sectors - 1)] + [end]
    fat += [free] * (128 - len(fat))
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\x00\x00" if name else b""
        return (
            raw.ljust(64, b"\x00")
            + struct.pack("<HBB", len(raw), kind, 1 if kind else 0)
            + struct.pack("<III", free, free, child)
            + b"\x00" * 16
            + struct.pack("<I", 0)
            + b"\x00" * 16
            + struct.pack("<III", start, size, 0)
        )

    directory = entry("Root Entry", 5, 1, end, 0) + entry("Workbook", 2, free, 2, len(workbook))
    directory += entry("", 0, free, 0, 0) * 2
    return header + b"".join(struct.pack("<I", v) for v in fat) + directory + workbook


def sample_files() -> dict[str, bytes]:
    """One file per supported format, each holding its own marker word."""
    import docx
    import openpyxl

    files: dict[str, bytes] = {
        "notes.txt": b"The marker word alphatxt appears in this plain text file about gardening.",
        "readme.md": b"# Title\n\nThe marker word betamd appears in this *markdown* file about sailing.",
        "data.json": b'{"topic": "astronomy", "marker": "gammajson", "tags": ["stars", "planets"]}',
        "table.csv": b"name,marker\nvolcano,deltacsv\nglacier,ice\n",
        "paper.pdf": minimal_pdf("The marker word epsilonpdf appears in this PDF about chemistry."),
        "old.xls": minimal_xls([["marker", "etaxls"], ["subject", "geology"], ["count", 42.0]]),
    }
    document = docx.Document()
    document.add_paragraph("The marker word zetadocx appears in this Word file about music.")
    buf = io.BytesIO()
    document.save(buf)
    files["letter.docx"] = buf.getvalue()
    book = openpyxl.Workbook()
    book.active.append(["marker", "thetaxlsx"])
    book.active.append(["subject", "economics", 7])
    buf = io.BytesIO()
    book.save(buf)
    files["sheet.xlsx"] = buf.getvalue()
    return files
