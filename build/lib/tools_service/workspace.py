"""Per-(user, session) workspaces under `DATA_DIR/scratch/<user>/<session>/`, and safe file access.

The tools app usually runs as root while the files in a workspace are written by sandboxed,
untrusted code. So every path is built from strictly validated names, and every file is
reached by walking directory file descriptors with `O_NOFOLLOW`: a symlink planted by the
sandbox (to `/etc/shadow`, to another user's workspace) is never followed, whatever the
request's spelling (`..`, absolute paths, percent-encoded variants all fail validation or
the walk).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SESSION_ID_RE",
    "USER_ID_RE",
    "WorkspaceError",
    "WalkStats",
    "Workspaces",
    "safe_name",
]

# The main app's session ids (ASCII letters, digits, `_ - .`, not starting with a dot, <= 128).
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
# User ids as the tools app accepts them (`tools_service.auth`): also a folder name here.
USER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# One path component of a workspace file: no separators, no NUL, not `.`/`..`, no leading dot-dot games.
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=@,() -]{0,254}$")
_MAX_DEPTH = 16


class WorkspaceError(Exception):
    """A request names a workspace or file it may not reach; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class WalkStats:
    total_bytes: int = 0
    files: int = 0


def safe_name(relpath: str) -> list[str]:
    """Split a client-supplied relative file path into validated components, or raise 400."""
    if not relpath or "\x00" in relpath or "\\" in relpath or relpath.startswith("/"):
        raise WorkspaceError(400, "invalid file name: use a relative path inside the workspace")
    parts = relpath.split("/")
    if len(parts) > _MAX_DEPTH or any(not _COMPONENT_RE.match(p) or p.strip(".") == "" for p in parts):
        raise WorkspaceError(400, "invalid file name: only letters, digits and _ . - + = @ , ( ) spaces are allowed")
    return parts


class Workspaces:
    """Locates, creates, lists, reads, writes and removes session workspaces.

    `owner_uid` is the uid the sandbox runs as (None when the service is not root): new
    workspaces and uploaded files are handed to it so sandboxed code can write them.
    """

    def __init__(self, data_dir: Path, owner_uid: int | None = None) -> None:
        self.root = data_dir / "scratch"
        self.owner_uid = owner_uid

    # -- locating -------------------------------------------------------------------

    def path(self, user_id: str, session_id: str) -> Path:
        if not USER_ID_RE.match(user_id):
            raise WorkspaceError(400, "invalid user id")
        if not SESSION_ID_RE.match(session_id):
            raise WorkspaceError(400, "invalid session_id: 1-128 of letters, digits, _ - . (no leading dot)")
        return self.root / user_id / session_id

    def ensure(self, user_id: str, session_id: str) -> Path:
        path = self.path(user_id, session_id)
        user_dir = path.parent
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        user_dir.mkdir(mode=0o700, exist_ok=True)
        if not path.is_dir() or path.is_symlink():
            path.mkdir(mode=0o700, exist_ok=True)
        if self.owner_uid is not None:
            st = os.lstat(path)
            if st.st_uid != self.owner_uid:
                os.chown(path, self.owner_uid, self.owner_uid, follow_symlinks=False)
        return path

    def exists(self, user_id: str, session_id: str) -> bool:
        path = self.path(user_id, session_id)
        return path.is_dir() and not path.is_symlink()

    # -- walking --------------------------------------------------------------------

    def iter_files(self, workspace: Path, limit: int = 10_000) -> Iterator[tuple[str, os.stat_result]]:
        """Regular files under `workspace` (relative name, lstat), symlinks never followed."""
        stack: list[tuple[str, str]] = [(str(workspace), "")]
        seen = 0
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > limit:
                    return
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                name = prefix + entry.name
                if stat.S_ISDIR(st.st_mode) and name.count("/") < _MAX_DEPTH:
                    stack.append((entry.path, name + "/"))
                elif stat.S_ISREG(st.st_mode):
                    yield name, st

    def usage(self, workspace: Path, limit: int = 1_000_000) -> WalkStats:
        """Bytes and entries in a workspace (allocated blocks, so sparse files cannot cheat)."""
        stats = WalkStats()
        stack = [str(workspace)]
        while stack and stats.files <= limit:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                stats.files += 1
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                stats.total_bytes += max(st.st_size, st.st_blocks * 512) if stat.S_ISREG(st.st_mode) else 0
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
        return stats

    def list_files(self, workspace: Path, since_ns: int | None = None) -> list[dict[str, object]]:
        files: list[dict[str, object]] = []
        for name, st in sorted(self.iter_files(workspace), key=lambda item: item[0]):
            item: dict[str, object] = {"name": name, "size": st.st_size}
            if since_ns is not None:
                item["changed"] = st.st_ctime_ns >= since_ns
            files.append(item)
        return files

    def remove_changed(self, workspace: Path, since_ns: int) -> list[str]:
        """Delete files created or changed since `since_ns` (ctime: the sandbox cannot backdate it)."""
        removed = []
        for name, st in list(self.iter_files(workspace, limit=1_000_000)):
            if st.st_ctime_ns >= since_ns:
                with contextlib.suppress(OSError):
                    os.unlink(workspace / name)
                    removed.append(name)
        return removed

    # -- file access ----------------------------------------------------------------

    @contextlib.contextmanager
    def _open_dir(self, workspace: Path, relpath: str, create: bool = False) -> Iterator[tuple[int, str]]:
        """(fd of the folder holding `relpath`, the file's name in it): `relpath` validated, then
        walked component by component with O_NOFOLLOW. A workspace that is missing (or a
        symlink) answers 404 before the name is looked at."""
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(workspace, flags)
        except OSError as exc:
            raise WorkspaceError(404, "file not found") from exc
        try:
            *folders, name = safe_name(relpath)
            for part in folders:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                        if self.owner_uid is not None:
                            os.chown(part, self.owner_uid, self.owner_uid, dir_fd=fd, follow_symlinks=False)
                try:
                    nxt = os.open(part, flags, dir_fd=fd)
                except OSError as exc:  # ENOTDIR, ENOENT, ELOOP for a symlink
                    raise WorkspaceError(404, "file not found") from exc
                os.close(fd)
                fd = nxt
            yield fd, name
        finally:
            os.close(fd)

    def open_file(self, workspace: Path, relpath: str) -> tuple[int, int]:
        """(fd, size) of a regular file in the workspace; the caller closes the fd."""
        with self._open_dir(workspace, relpath) as (dir_fd, name):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError as exc:  # ELOOP for a symlink, ENOENT, ...
                raise WorkspaceError(404, "file not found") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise WorkspaceError(404, "file not found")
        return fd, st.st_size

    def write_file(self, workspace: Path, relpath: str, chunks: Iterator[bytes], max_bytes: int) -> int:
        """Write a file atomically: a fresh temp file, then rename over whatever entry was there
        (a planted symlink is replaced, never written through)."""
        with self._open_dir(workspace, relpath, create=True) as (dir_fd, name):
            tmp = f".upload-{uuid.uuid4().hex}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
            written = 0
            try:
                with os.fdopen(fd, "wb", closefd=False) as fh:
                    for chunk in chunks:
                        written += len(chunk)
                        if written > max_bytes:
                            raise WorkspaceError(
                                413, f"file is larger than the {max_bytes} bytes allowed (file size limit or quota)"
                            )
                        fh.write(chunk)
                if self.owner_uid is not None:
                    os.fchown(fd, self.owner_uid, self.owner_uid)
                os.close(fd)
                fd = -1
                try:
                    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                except IsADirectoryError as exc:
                    raise WorkspaceError(409, "a folder with that name exists") from exc
            except BaseException:
                if fd >= 0:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
        return written

    def delete_file(self, workspace: Path, relpath: str) -> None:
        """Remove one file (unlink never follows a symlink: a planted link is removed, not its target)."""
        with self._open_dir(workspace, relpath) as (dir_fd, name):
            try:
                os.unlink(name, dir_fd=dir_fd)
            except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
                raise WorkspaceError(404, "file not found") from exc

    def delete(self, user_id: str, session_id: str) -> bool:
        path = self.path(user_id, session_id)
        if path.is_symlink():
            path.unlink()
            return True
        if not path.is_dir():
            return False
        shutil.rmtree(path)  # rmtree never follows symlinks inside the tree
        return True
