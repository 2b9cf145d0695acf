"""One disk quota per user across everything they keep: session workspaces, chat uploads
and RAG collections (`USER_DISK_QUOTA_MB`).

A per-session quota alone let one user write 1 GB across four sessions. Both apps read
the same folders under `DATA_DIR`, so either can tell how much room a user has left.
Usage is counted in allocated blocks as well as sizes, so sparse files cannot cheat.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from core.errors import APIError

__all__ = ["USER_AREAS", "user_dirs", "disk_usage", "user_usage", "room_left", "check_room", "quota_error"]

# Folders under DATA_DIR that hold one sub-folder per user id.
USER_AREAS = ("scratch", "uploads", "rag")


def user_dirs(data_dir: Path, user_id: str) -> list[Path]:
    return [data_dir / area / user_id for area in USER_AREAS]


def disk_usage(root: Path) -> int:
    """Bytes under `root`, not following symlinks (a planted link to / counts nothing)."""
    total = 0
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += max(st.st_size, st.st_blocks * 512)
            elif stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
    return total


def user_usage(data_dir: Path, user_id: str) -> int:
    return sum(disk_usage(path) for path in user_dirs(data_dir, user_id))


def room_left(settings: Any, user_id: str) -> int:
    """Bytes this user may still write (negative when over). Blocking: walks the disk."""
    return int(settings.user_disk_quota_mb) * 1024 * 1024 - user_usage(settings.data_dir, user_id)


def quota_error(settings: Any, needed: int | None = None) -> APIError:
    what = f"{needed // 1024} KB more " if needed else ""
    return APIError(
        413,
        f"this would take {what}past your disk quota of {settings.user_disk_quota_mb} MB (workspaces, uploads "
        "and document collections together): delete sessions, files or collections first",
        code="quota_exceeded",
    )


def check_room(settings: Any, user_id: str, incoming: int) -> None:
    """Raise 413 `quota_exceeded` unless `incoming` bytes fit in the user's quota."""
    if room_left(settings, user_id) < incoming:
        raise quota_error(settings, incoming)
