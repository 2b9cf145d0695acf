"""The web chat's other panels and page-wide behaviour: API keys, admin, sign-up by
keyboard at phone width in dark mode, the per-tab token, and the routes it claims."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.integration.conftest import Platform
from tests.integration.web.browser import ARTIFACTS, api, expect, log_in, requires_browser

pytestmark = requires_browser


def test_keys_and_admin_panels(page: Any, site: Platform) -> None:
    log_in(page, site, "admin", "administrator")
    page.click("#open-keys")
    page.fill("#key-name", "notebook")
    page.press("#key-name", "Enter")
    key = page.locator("#key-value")
    expect(key).to_have_text(re.compile(r"^sk-llmapi-"))
    secret = key.inner_text()
    assert httpx.get(site.url + "/api/auth/me", headers=site.headers(secret)).status_code == 200
    page.locator("#key-list li", has_text="notebook").locator("button").click()
    expect(page.locator("#key-list li", has_text="notebook")).to_have_count(0)
    assert httpx.get(site.url + "/api/auth/me", headers=site.headers(secret)).status_code == 401
    page.keyboard.press("Escape")

    page.click("#open-admin")
    expect(page.locator("#user-rows tr[data-username=admin]")).to_be_visible()
    page.fill("#new-username", "erik")
    page.fill("#new-password", "erik-password-1")
    page.click("#user-form button[type=submit]")
    row = page.locator("#user-rows tr[data-username=erik]")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("disabled")
    page.fill("#default-model", "scripted-model")
    page.click("#default-model-form button[type=submit]")
    expect(page.locator("#default-model-info")).to_contain_text("chosen here")
    model = api(site, site.token, "GET", "/api/admin/model").json()
    assert model == {**model, "model": "scripted-model", "overridden": True}


def test_signup_by_keyboard_at_phone_width_in_dark_mode_then_logout(browser: Any, site: Platform) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 800}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(site.url + "/")
        # keyboard only: name, Tab, password, Tab past "Log in" to "Sign up", Enter
        page.focus("#login-username")
        page.keyboard.type("fay")
        page.keyboard.press("Tab")
        page.keyboard.type("correct-horse-battery")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        expect(page.locator("#signup-submit")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#app-view")).to_be_visible()
        expect(page.locator("#whoami")).to_have_text("fay")
        expect(page.locator("#open-admin")).to_be_hidden()  # sign-up makes a plain user
        assert site.login("fay", "correct-horse-battery")

        # phone width: no sideways scrolling, the session list behind a button
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        expect(page.locator("#sidebar")).to_be_hidden()
        page.click("#toggle-sidebar")
        expect(page.locator("#new-chat")).to_be_visible()
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(21, 23, 27)", background
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web_chat_phone_dark.png"))

        # the token belongs to this tab: another tab starts at the login form
        other = context.new_page()
        other.goto(site.url + "/")
        expect(other.locator("#login-view")).to_be_visible()
        other.close()

        page.click("#logout")
        expect(page.locator("#login-view")).to_be_visible()
        page.reload()
        expect(page.locator("#login-view")).to_be_visible()
        assert page.evaluate("sessionStorage.length") == 0
    finally:
        context.close()


def test_the_page_does_not_shadow_the_api(site: Platform) -> None:
    page = httpx.get(site.url + "/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(site.url + "/health").json()["status"] == "ok"
    assert httpx.get(site.url + "/v1/models").status_code == 401
    assert httpx.get(site.url + "/docs").status_code == 200
    assert httpx.get(site.url + "/web/js/app.js").headers["content-type"].startswith("text/javascript")
    for bad in ("/web/../settings.py", "/web/%2e%2e/%2e%2e/settings.py", "/web/nope.js"):
        assert httpx.get(site.url + bad).status_code == 404
