"""Everything under `DATA_DIR` is private to the service's user (umask 077).

`app.db` (password hashes), `checkpoints.db` (conversations), logs, uploads and RAG
collections were world-readable (0644 files, 0755 folders). Both apps and the `llm-api`
CLI set the umask before creating anything, and tighten what an older version left.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["UMASK", "make_private"]

log = logging.getLogger(__name__)

UMASK = 0o077


def _tighten(path: Path) -> None:
    try:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            return
        wanted = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & wanted)
    except OSError as exc:
        log.warning("could not make %s private: %s", path, exc)


def make_private(data_dir: Path) -> None:
    """Set the process umask to 077 and make `data_dir`, its entries and the logs private.

    Only the top level (and `logs/`) is tightened: a private folder already keeps other
    users out of everything below it, and walking every workspace at start would be slow."""
    os.umask(UMASK)
    data_dir.mkdir(parents=True, exist_ok=True)
    _tighten(data_dir)
    for entry in data_dir.iterdir():
        _tighten(entry)
    logs = data_dir / "logs"
    if logs.is_dir():
        for entry in logs.iterdir():
            _tighten(entry)
