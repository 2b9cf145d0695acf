"""Parser bombs, built in the tests (issue 11): small files that claim or unpack into a lot."""

from __future__ import annotations

import io
import struct
import zlib
from typing import NamedTuple

from tests.rag.helpers import pdf_from_objects

__all__ = ["xlsx_dimension_bomb", "xlsx_wide_rows_bomb", "pdf_flate_bomb", "docx_bomb", "Repeated"]

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    "{overrides}</Types>"
)
_OVERRIDE = '<Override PartName="{part}" ContentType="{type}"/>'
_REL = '<Relationship Id="{id}" Type="{type}" Target="{target}"/>'
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>'
)
_OD = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class Repeated(NamedTuple):
    """`head + chunk * times + tail`, deflated in moments (see `_deflate`)."""

    head: bytes
    chunk: bytes
    times: int
    tail: bytes = b""


def _deflate(part: Repeated) -> tuple[bytes, int, int]:
    """(raw deflate, size, crc32) of a repeated part: after a full flush the compressor
    forgets its window, so every repetition of the chunk compresses to the same bytes."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(part.head) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(part.chunk) + co.flush(zlib.Z_FULL_FLUSH)
    data = head + block * part.times + co.compress(part.tail) + co.flush(zlib.Z_FINISH)
    crc = zlib.crc32(part.head)
    for _ in range(part.times):
        crc = zlib.crc32(part.chunk, crc)
    crc = zlib.crc32(part.tail, crc)
    return data, len(part.head) + len(part.chunk) * part.times + len(part.tail), crc


def _zip(parts: dict[str, bytes | Repeated]) -> bytes:
    """A zip archive written by hand, so a member can be a huge `Repeated` built at once."""
    out = io.BytesIO()
    central = []
    for name, part in parts.items():
        data, size, crc = _deflate(part if isinstance(part, Repeated) else Repeated(part, b"", 0))
        offset = out.tell()
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0)
        out.write(local + name.encode() + data)
        central.append(
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name.encode()
        )
    start = out.tell()
    for record in central:
        out.write(record)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(central), len(central), out.tell() - start, start, 0)
    out.write(end)
    return out.getvalue()


def _xlsx(sheet_data: str, dimension: str) -> bytes:
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{sheet_data}</sheetData></worksheet>'
    )
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:r="{_OD}"><sheets><sheet name="bomb" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = _OVERRIDE.format(part="/xl/workbook.xml", type=f"{main}.sheet.main+xml") + _OVERRIDE.format(
        part="/xl/worksheets/sheet1.xml", type=f"{main}.worksheet+xml"
    )
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES.format(overrides=overrides).encode(),
            "_rels/.rels": _RELS.format(
                rels=_REL.format(id="rId1", type=f"{_OD}/officeDocument", target="xl/workbook.xml")
            ).encode(),
            "xl/workbook.xml": workbook.encode(),
            "xl/_rels/workbook.xml.rels": _RELS.format(
                rels=_REL.format(id="rId1", type=f"{_OD}/worksheet", target="worksheets/sheet1.xml")
            ).encode(),
            "xl/worksheets/sheet1.xml": sheet.encode(),
        }
    )


def xlsx_dimension_bomb(rows: int = 8000) -> bytes:
    """A few KB whose `<dimension>` claims `A1:XFD<rows>`: read-only openpyxl pads every
    row to 16384 cells (1.15 GB measured on the landed code). Rows without a number."""
    return _xlsx('<row><c t="inlineStr"><is><t>x</t></is></c></row>' * rows, f"A1:XFD{rows}")


def xlsx_wide_rows_bomb(rows: int = 8000) -> bytes:
    """Rows that really span A..XFD (one cell at each end): padding is real, only a cell cap stops it."""
    row = '<row><c r="A{r}" t="inlineStr"><is><t>x</t></is></c><c r="XFD{r}"><v>1</v></c></row>'
    return _xlsx("".join(row.format(r=r) for r in range(1, rows + 1)), f"A1:XFD{rows}")


def pdf_flate_bomb(inflated_mb: int = 1024) -> bytes:
    """A valid one-page PDF whose content stream inflates to `inflated_mb` MB of spaces."""
    raw, _, _ = _deflate(Repeated(b"", b" " * (1024 * 1024), inflated_mb))
    adler = 1
    for _ in range(inflated_mb):
        adler = zlib.adler32(b" " * (1024 * 1024), adler)
    stream = b"\x78\xda" + raw + struct.pack(">I", adler)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    return pdf_from_objects(objects)


def docx_bomb(unpacked_mb: int = 300) -> bytes:
    """A DOCX whose document.xml unpacks to `unpacked_mb` MB of paragraphs of "AAAA…"."""
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
    )
    chunk = ("<w:p><w:r><w:t>" + "A" * (1024 * 1024 - 32) + "</w:t></w:r></w:p>").encode()
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES.format(
                overrides=_OVERRIDE.format(part="/word/document.xml", type=main)
            ).encode(),
            "_rels/.rels": _RELS.format(
                rels=_REL.format(id="rId1", type=f"{_OD}/officeDocument", target="word/document.xml")
            ).encode(),
            "word/document.xml": Repeated(head, chunk, unpacked_mb, b"</w:body></w:document>"),
        }
    )
