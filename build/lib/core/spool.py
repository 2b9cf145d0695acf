"""Uploaded files go to disk in fixed-size chunks, never whole into memory (both apps).

Starlette spools each multipart file (in memory up to 1 MB, then to an unnamed temp file).
From there an upload is checked from its declared size and its first bytes only, then
copied a chunk at a time, on a worker thread, into a temp file in the folder where it will
live: the caller claims the final name atomically (hard link or rename), so a failure at
any point leaves no half-written file under a real name, and `staged` removes the temp
files whatever happens. Memory per upload is one chunk, whatever the file's size.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from starlette.datastructures import UploadFile

__all__ = ["CHUNK", "HEAD", "TooBig", "upload_size", "read_head", "stage", "stage_upload", "staged"]

CHUNK = 1 << 20  # bytes copied at a time
HEAD = 8192  # bytes read to check a file's type (magic numbers, NUL bytes)
TEMP_SUFFIX = ".part"


class TooBig(Exception):
    """The file turned out larger than the limit while it was copied (its declared size lied)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


def _size_of(fh: BinaryIO) -> int:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    return size


async def upload_size(upload: UploadFile) -> int:
    """The size Starlette counted while spooling, or the spooled file's length."""
    if upload.size is not None:
        return int(upload.size)
    return await asyncio.to_thread(_size_of, upload.file)


async def read_head(upload: UploadFile, n: int = HEAD) -> bytes:
    """The first `n` bytes (a bounded read), leaving the file at its start."""
    await upload.seek(0)
    head = await upload.read(n)
    await upload.seek(0)
    return head


def stage(src: BinaryIO, folder: Path, limit: int, chunk: int = CHUNK) -> tuple[Path, int]:
    """Copy `src` from its start into a new temp file in `folder`, a chunk at a time; (path, size).

    Raises `TooBig` past `limit` bytes. On any failure the temp file is removed. Blocking:
    run it on a worker thread."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{uuid.uuid4().hex}{TEMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    size = 0
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            src.seek(0)
            while block := src.read(chunk):
                size += len(block)
                if size > limit:
                    raise TooBig(limit)
                out.write(block)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, size


async def stage_upload(upload: UploadFile, folder: Path, limit: int) -> tuple[Path, int]:
    """`stage` the upload's spooled file off the event loop."""
    return await asyncio.to_thread(stage, upload.file, folder, limit)


@contextmanager
def staged() -> Iterator[list[Path]]:
    """A list to put temp files in: every one is removed when the block ends, however it ends
    (a claimed file keeps its data under its final name, which is a second link)."""
    paths: list[Path] = []
    try:
        yield paths
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
