"""Run the parsing child from a server: off the event loop, off the thread pool, bounded.

One child per document (`python -m core.documents`), at most `CONCURRENCY` at a time per
event loop, killed after `limits.timeout`. Nothing of the document is parsed in the
calling process, so a bomb costs the server neither memory nor a pool thread that logins
need. A document on disk goes by its path: the child opens and reads it itself, so the
server never holds the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

from core.documents.limits import ERRORS, DocumentError, DocumentLimits, ParseError, TooLarge

__all__ = ["CONCURRENCY", "LAST_PEAK_RSS_KB", "Source", "run_child", "run_child_sync"]

# A document's bytes, or the path of the file that holds them (read by the child).
Source = bytes | Path

log = logging.getLogger(__name__)

CONCURRENCY = 2  # children at once per event loop: each may use up to `memory_mb`
_ROOT = str(Path(__file__).resolve().parents[2])
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
# The last child's peak resident memory, for tests and logs (a child sees only itself).
LAST_PEAK_RSS_KB: list[int] = [0]


def _command() -> list[str]:
    return [sys.executable, "-m", "core.documents"]


_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "HOME", "TMPDIR", "VIRTUAL_ENV", "PYTHONHASHSEED")


def _env() -> dict[str, str]:
    """Only what Python needs: no secrets (keys, DATABASE_URL passwords) reach the parser."""
    env = {k: v for k, v in os.environ.items() if k in _PASSED_ENV}
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


def _request(op: str, ext: str, source: Source, limits: DocumentLimits) -> bytes:
    header: dict[str, Any] = {"op": op, "ext": ext, "limits": limits.to_dict()}
    if isinstance(source, Path):
        header["path"] = str(source.resolve())  # the child's cwd is the project root
        return json.dumps(header).encode() + b"\n"
    return json.dumps(header).encode() + b"\n" + source


def _answer(filename: str, returncode: int | None, out: bytes, limits: DocumentLimits) -> str:
    try:
        answer: dict[str, Any] = json.loads(out) if out else {}
    except ValueError:
        answer = {}
    if not answer:
        log.warning("document parser for %s exited %s without an answer", filename, returncode)
        raise TooLarge(f"{filename}: could not be parsed within the parser's limits (memory {limits.memory_mb} MB)")
    LAST_PEAK_RSS_KB[0] = int(answer.get("peak_rss_kb", 0))
    if answer.get("ok"):
        return str(answer["value"])
    error_type = ERRORS.get(int(answer.get("status", 422)), ParseError)
    raise error_type(f"{filename}: {answer.get('message', 'could not be parsed')}")


def _timed_out(filename: str, limits: DocumentLimits) -> DocumentError:
    return TooLarge(f"{filename}: parsing took longer than {limits.timeout:g} s; refused")


async def run_child(op: str, filename: str, ext: str, source: Source, limits: DocumentLimits) -> str:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(CONCURRENCY)
    async with gate:
        proc = await asyncio.create_subprocess_exec(
            *_command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=_env(),
            cwd=_ROOT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(_request(op, ext, source, limits)), limits.timeout)
        except TimeoutError:
            raise _timed_out(filename, limits) from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    return _answer(filename, proc.returncode, out, limits)


def run_child_sync(op: str, filename: str, ext: str, source: Source, limits: DocumentLimits) -> str:
    """The same from synchronous code (the CLI, tests): blocks the calling thread."""
    try:
        done = subprocess.run(
            _command(),
            input=_request(op, ext, source, limits),
            capture_output=True,
            timeout=limits.timeout,
            env=_env(),
            cwd=_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _timed_out(filename, limits) from None
    return _answer(filename, done.returncode, done.stdout, limits)
