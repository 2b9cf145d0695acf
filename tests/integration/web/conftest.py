"""Fixtures for the browser tests: one platform (main app, tools app, gated scripted LLM)
and one Chromium for the whole package; a fresh browser context (own sessionStorage) per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.integration.conftest import Platform
from tests.integration.tools_platform import serve_with_tools
from tests.integration.web.browser import CHROMIUM, CHROMIUM_ARGS, GatedLLM, expect
from tests.servers import serve_app


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    llm = GatedLLM()
    with serve_app(llm.app()) as llm_url:
        llm.url = llm_url + "/v1"
        data_dir = tmp_path_factory.mktemp("web") / "data"
        data_dir.mkdir()
        with serve_with_tools(data_dir, llm, max_file_size_mb=1) as platform:
            yield platform
        for gated in llm.gates:
            gated.open()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def llm(site: Platform) -> GatedLLM:
    assert isinstance(site.llm, GatedLLM)
    site.llm.script.clear()
    return site.llm
