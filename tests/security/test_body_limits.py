"""Request bodies are bounded before they are read (issue 11, item 3).

The attack: a 400 MB unauthenticated POST to /api/auth/login (or to the tools app's
/rag/query) grew the process by the body's size before the 401. Here 50 MB: with a
Content-Length the answer comes before the body is sent; chunked, the read stops at the
limit. The server process is this test process (the apps run in threads), read via psutil.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psutil

from tests.integration.conftest import Platform

MB = 1024 * 1024
BODY_MB = 50


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _declared_post(url: str, path: str) -> tuple[int, bytes]:
    """Send headers declaring a 50 MB JSON body and only 64 KB of it; read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {BODY_MB * MB}\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"username": "' + b"a" * 64 * 1024)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    return status, reply.split(b"\r\n\r\n", 1)[1]


def _chunks() -> Iterator[bytes]:
    yield b'{"username": "'
    block = b"a" * MB
    for _ in range(BODY_MB):
        yield block
    yield b'", "password": "x"}'


def _chunked_post(url: str) -> httpx.Response | None:
    """A 50 MB body without Content-Length. The server may close the connection once it
    has answered 413, before the client finished sending: then there is no response."""
    try:
        return httpx.post(url, content=_chunks(), headers={"Content-Type": "application/json"}, timeout=60)
    except httpx.HTTPError:
        return None


def _check(base: str, path: str) -> None:
    before = _rss()
    status, body = _declared_post(base, path)
    assert status == 413, body
    assert b"request_too_large" in body and b'"error"' in body
    resp = _chunked_post(base + path)
    if resp is not None:
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"]["type"] == "invalid_request_error"
    grown = (_rss() - before) / MB
    assert grown < BODY_MB / 2, f"{path}: the server grew by {grown:.0f} MB"


def test_large_bodies_are_refused_before_reading(platform_with_tools: Platform) -> None:
    p = platform_with_tools
    _check(p.url, "/api/auth/login")
    _check(p.settings.tools_url, "/api/tools/rag/query")
    # Ordinary bodies still pass: a login with a wrong password is a 401, not a 413.
    wrong = httpx.post(p.url + "/api/auth/login", json={"username": "admin", "password": "nope-nope"})
    assert wrong.status_code == 401


def test_chunked_bodies_are_counted(platform: Platform) -> None:
    """Without a Content-Length the middleware counts; a small chunked body still works."""

    def small() -> Iterator[bytes]:
        yield b'{"username": "admin", '
        yield b'"password": "administrator"}'

    resp = httpx.post(platform.url + "/api/auth/login", content=small(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    resp = _chunked_post(platform.url + "/api/auth/login")
    assert resp is None or resp.status_code == 413
