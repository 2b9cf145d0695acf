"""HTTP clients that are cheap to make.

An `httpx.AsyncClient()` builds a new SSL context each time (loads the CA bundle): about
40 ms of CPU, which a probe made per request (`/health` made two) paid every time. Clients
made here share one context, built once; they are otherwise httpx's own.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import Any

import certifi
import httpx

__all__ = ["async_client"]


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """`httpx.AsyncClient(**kwargs)` with the shared SSL context (unless `verify` is given)."""
    kwargs.setdefault("verify", _ssl_context())
    return httpx.AsyncClient(**kwargs)
