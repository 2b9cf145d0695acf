"""Serve an ASGI app with uvicorn over real HTTP, in a background thread, for tests; wait
for an app started as a process to answer."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

__all__ = ["serve_app", "free_port", "wait_healthy"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[Any], what: str, timeout: float = 120) -> None:
    """Wait until the app started as `proc` answers 200 on `base`/health. `timeout` is a
    hang guard, not a speed requirement; the process dying first fails at once."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"{what} exited during start-up"
        try:
            if httpx.get(base + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{what} did not come up"
        time.sleep(0.2)


@contextmanager
def serve_app(app: Any, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Yield the base URL of `app` served by uvicorn (lifespan on) until the block ends."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port or 0))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, host=host, port=bound, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server failed to start")
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start in 60 s")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
