"""Shared parts of the web chat's browser tests: Debian's chromium driven by Playwright
(never `playwright install`), a scripted LLM whose replies can be held back, page helpers.

Waits are on page events and selectors only. Replies that must stay "in progress" wait on
a gate the test opens, so a run is provably live while the test looks at it.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.integration.conftest import Platform
from tests.scripted_llm import Reply, ScriptedLLM

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "Gated",
    "GatedLLM",
    "api",
    "expect",
    "log_in",
    "requires_browser",
    "send",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

requires_browser = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (`make test-deps` installs it)"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


@dataclass
class Gated:
    """A scripted reply held back until the test calls `open()`."""

    reply: Reply
    gate: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)

    def open(self) -> None:
        self.gate.set()


class GatedLLM(ScriptedLLM):
    def __init__(self) -> None:
        super().__init__()
        self.gates: list[Gated] = []

    def push_gated(self, reply: Reply | str) -> Gated:
        gated = Gated(Reply(content=reply) if isinstance(reply, str) else reply)
        self.gates.append(gated)
        self.script.append(gated)  # type: ignore[arg-type]
        return gated

    async def completions(self, request: Any) -> Any:
        if self.script and isinstance(self.script[0], Gated):
            gated: Gated = self.script.popleft()  # type: ignore[assignment]
            gated.reached.set()
            await asyncio.to_thread(gated.gate.wait, 120)
            self.script.appendleft(gated.reply)
        return await super().completions(request)


def log_in(page: Any, site: Platform, username: str, password: str = "correct-horse-battery") -> None:
    page.goto(site.url + "/")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#whoami")).to_have_text(username)


def api(site: Platform, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, site.url + path, headers=site.headers(token), timeout=30, **kwargs)


def send(page: Any, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
