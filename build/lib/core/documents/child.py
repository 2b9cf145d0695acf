"""The parsing child: `python -m core.documents` reads one request on stdin, answers JSON.

It limits itself before touching the document (RLIMIT_AS, RLIMIT_CPU, no core files),
so a parser bomb exhausts this short-lived process, never a server. Protocol: one JSON
header line `{"op", "ext", "limits"}`, then the document's bytes; the answer is one JSON
object `{"ok", "value" | ("status", "message"), "peak_rss_kb"}`. JSON, not pickle: the
parent must not execute anything a compromised child writes. A header with `"path"`
names a file to read instead of the bytes on stdin (large uploads: the server streams them
to disk and never holds them); it is read after the limits are in place.
"""

from __future__ import annotations

import json
import math
import resource
import sys
from typing import Any

from core.documents.limits import DocumentError, DocumentLimits

__all__ = ["main", "handle"]


def _no_network(event: str, _args: tuple[Any, ...]) -> None:
    # A parser never needs the network: nothing a document says may fetch a URL.
    if event in ("socket.connect", "socket.getaddrinfo", "socket.bind", "urllib.Request"):
        raise PermissionError("the document parser has no network access")


def _limit_self(limits: DocumentLimits) -> None:
    sys.addaudithook(_no_network)
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = max(1, math.ceil(limits.timeout)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def handle(op: str, ext: str, data: bytes, limits: DocumentLimits) -> dict[str, Any]:
    from core.documents.describe import describe
    from core.documents.text import extract_text

    try:
        value = describe(ext, data, limits) if op == "describe" else extract_text(ext, data, limits)
        return {"ok": True, "value": value}
    except DocumentError as exc:
        return {"ok": False, "status": exc.status, "message": exc.message}
    except (MemoryError, RecursionError):
        return {"ok": False, "status": 413, "message": f"needs more than the parser's {limits.memory_mb} MB to read"}


def _peak_rss_kb() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    over from the forking parent across exec, VmHWM belongs to this process's own memory."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _read(path: str | None) -> bytes:
    if path is None:
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def main() -> int:
    header = json.loads(sys.stdin.buffer.readline())
    limits = DocumentLimits(**header["limits"])
    _limit_self(limits)
    try:
        data = _read(header.get("path"))
    except OSError as exc:
        answer: dict[str, Any] = {"ok": False, "status": 422, "message": f"could not be read ({exc.strerror})"}
    except MemoryError:
        answer = {"ok": False, "status": 413, "message": f"needs more than the parser's {limits.memory_mb} MB to read"}
    else:
        answer = handle(str(header["op"]), str(header["ext"]), data, limits)
        del data
    answer["peak_rss_kb"] = _peak_rss_kb()
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0
