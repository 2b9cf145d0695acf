"""A collection's manifest name and format, and the atomic file write every commit uses
(shared by the store and the v1 migration, so neither imports the other)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["MANIFEST", "FORMAT", "_atomic_write"]

MANIFEST = "manifest.json"
FORMAT = 2


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
