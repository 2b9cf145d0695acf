"""The web chat in a real headless Chromium (Debian's `chromium`, driven by Playwright),
against the real main app, the real tools app and sandbox, and the scripted LLM server.

Waits are on page events and selectors only. Replies that must stay "in progress" wait on
a gate the test opens, so a run is provably live while the test looks at it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Platform
from tests.integration.tools_platform import serve_with_tools
from tests.scripted_llm import Reply, ScriptedLLM, tool_call
from tests.servers import serve_app

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (`make test-deps` installs it)"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

# Writes an 8x8 red PNG without any library, and prints the product.
PNG_CODE = """import struct, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
rows = b''.join(b'\\x00' + b'\\xff\\x00\\x00' * 8 for _ in range(8))
png = (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 8, 8, 8, 2, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
open('dot.png', 'wb').write(png)
print(17 * 23)
"""


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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
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


def test_main_flow(page: Any, site: Platform, llm: GatedLLM) -> None:
    token = site.signup("alice")
    log_in(page, site, "alice")
    expect(page.locator("#model-select option[value=react]")).to_have_count(1)
    page.select_option("#model-select", "react")

    # a react run: progress streams into the "working" section while the answer is held back
    llm.push(Reply(tool_calls=[tool_call("python_coder", {"code": PNG_CODE})]))
    final = llm.push_gated("17 x 23 = **391**, and the picture is `dot.png`.\n\n```python\nprint(17 * 23)\n```")
    send(page, "Compute 17*23 with Python and draw a dot")
    reply = page.locator(".msg.assistant").last
    steps = reply.locator(".working .steps")
    expect(steps).to_contain_text("python_coder")
    expect(steps).to_contain_text("391")  # the sandbox's output, streamed before the answer exists
    assert final.reached.wait(60)
    expect(page.locator("#stop")).to_be_visible()
    assert reply.locator(".answer").inner_text() == ""
    final.open()
    expect(reply.locator(".answer strong")).to_have_text("391")
    expect(reply.locator(".answer pre code")).to_have_text("print(17 * 23)")
    expect(reply).to_have_class(re.compile(r"\bdone\b"))
    expect(page.locator("#stop")).to_be_hidden()

    # the session is listed (newest first) and its workspace file shows inline
    sessions = api(site, token, "GET", "/api/chat/sessions").json()["data"]
    session_id = sessions[0]["id"]
    expect(page.locator(f'#session-list .session[data-id="{session_id}"]')).to_be_visible()
    page.click("#toggle-files")
    image = page.locator('#file-list .file[data-name="dot.png"] img.preview')
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('#file-list img.preview').naturalWidth === 8")
    with page.expect_download() as download:
        page.locator('#file-list .file[data-name="dot.png"] button').click()
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert download.value.suggested_filename == "dot.png"
    reply.locator(".working summary").click()  # collapsed when done; opens on demand
    expect(steps).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_chat.png"), full_page=True)

    # stop a long run: the page aborts and the server cancels it
    held = llm.push_gated("this answer must never arrive")
    send(page, "Take your time")
    assert held.reached.wait(60)
    with page.expect_response(lambda r: r.url.endswith(f"/api/chat/sessions/{session_id}/cancel")) as cancel:
        page.click("#stop")
    assert cancel.value.json() == {"id": session_id, "cancelled": True}  # the server had the run and stopped it
    stopped = page.locator(".msg.assistant").last
    expect(stopped).to_have_class(re.compile(r"\bstopped\b"))
    expect(stopped.locator(".status")).to_have_text("Stopped.")
    held.open()

    # reload: still logged in (token kept for the tab), the session is in the list, history renders
    page.reload()
    item = page.locator(f'#session-list .session[data-id="{session_id}"]')
    expect(item).to_contain_text("Compute 17*23")
    item.locator(".session-open").click()
    expect(page.locator(".msg.user").first).to_have_text(re.compile("Compute 17\\*23"))
    expect(page.locator(".msg.assistant .answer strong").first).to_have_text("391")
    expect(page.locator(".msg.assistant .working").first).to_contain_text("python_coder")
    expect(page.locator("#messages")).not_to_contain_text("Take your time")  # the stopped turn was rolled back
    expect(page.locator("#messages")).not_to_contain_text("must never arrive")

    # attach a file: it lands in the session's workspace and is listed
    page.set_input_files("#attach", files=[{"name": "notes.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"}])
    expect(page.locator("#attachments")).to_contain_text("notes.csv")
    send(page, "Here is a file")
    expect(page.locator(".msg.assistant").last).to_have_class(re.compile(r"\bdone\b"))
    page.click("#toggle-files")
    expect(page.locator('#file-list .file[data-name="notes.csv"]')).to_be_visible()
    page.click("#toggle-files")
    assert "notes.csv" in llm.requests[-1]["messages"][0]["content"]  # described to the agent

    # rename (Escape cancels, Enter saves), then delete the session
    item.locator("button[aria-label^=Rename]").click()
    page.fill("#session-list input.rename", "Not this")
    page.press("#session-list input.rename", "Escape")
    expect(page.locator(f'#session-list .session[data-id="{session_id}"] .title')).to_contain_text("Compute 17*23")
    assert api(site, token, "GET", f"/api/chat/sessions/{session_id}").json()["title"].startswith("Compute 17*23")
    item.locator("button[aria-label^=Rename]").click()
    page.fill("#session-list input.rename", "Arithmetic")
    page.press("#session-list input.rename", "Enter")
    expect(page.locator(f'#session-list .session[data-id="{session_id}"] .title')).to_have_text("Arithmetic")
    page.locator(f'#session-list .session[data-id="{session_id}"] button[aria-label^=Delete]').click()
    expect(page.locator(f'#session-list .session[data-id="{session_id}"]')).to_have_count(0)
    assert api(site, token, "GET", f"/api/chat/sessions/{session_id}").status_code == 404
    expect(page.locator("#chat-title")).to_have_text("New chat")


def test_rag_panel_creates_uploads_lists_queries_and_deletes(page: Any, site: Platform) -> None:
    site.signup("bruno")
    log_in(page, site, "bruno")
    page.click("#open-rag")
    page.fill("#collection-name", "animals")
    page.press("#collection-name", "Enter")
    expect(page.locator("#collection-select")).to_have_value("animals")
    page.set_input_files(
        "#rag-files",
        files=[
            {"name": "zebra.txt", "mimeType": "text/plain", "buffer": b"Zebras are striped animals of Africa."},
            {"name": "kettle.md", "mimeType": "text/markdown", "buffer": b"A kettle boils water for tea."},
        ],
    )
    page.click("#rag-upload-form button[type=submit]")
    expect(page.locator("#rag-progress-text")).to_have_text("Uploaded.")
    docs = page.locator("#document-list .document")
    expect(docs).to_have_count(2)
    page.fill("#rag-query", "striped zebras")
    page.press("#rag-query", "Enter")
    expect(page.locator("#rag-results .hit").first).to_contain_text("zebra.txt")
    page.locator("#document-list .document", has_text="kettle.md").locator("button").click()
    expect(docs).to_have_count(1)
    page.click("#collection-delete")
    expect(page.locator("#collection-select option")).to_have_count(0)


def test_model_output_cannot_inject_html(page: Any, site: Platform, llm: GatedLLM) -> None:
    site.signup("carla")
    log_in(page, site, "carla")
    page.select_option("#model-select", "chat")
    llm.push(
        '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
        '[click](javascript:window.__pwned=3) [ok](https://example.com/a?b=1&c="x") **bold**'
    )
    send(page, "be evil")
    answer = page.locator(".msg.assistant .answer").last
    expect(answer.locator("strong")).to_have_text("bold")
    assert answer.locator("img, script").count() == 0
    assert answer.locator("a[href^=javascript]").count() == 0
    assert answer.locator("a").get_attribute("href") == 'https://example.com/a?b=1&c="x"'
    assert "<img src=x" in answer.inner_text()  # shown as text
    assert page.evaluate("window.__pwned") is None


def test_errors_are_shown_in_the_page(page: Any, site: Platform) -> None:
    token = site.signup("dana")
    log_in(page, site, "dana")
    # upload too large (MAX_FILE_SIZE_MB=1 here): 413 in the banner, no session created
    page.set_input_files("#attach", files=[{"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * 1_200_000}])
    send(page, "too big")
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner")).to_have_attribute("data-status", "413")
    assert api(site, token, "GET", "/api/chat/sessions").json()["data"] == []
    # a session deleted elsewhere (another tab): opening it says so
    made = api(
        site,
        token,
        "POST",
        "/v1/chat/completions",
        json={"model": "chat", "session_id": "elsewhere", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert made.status_code == 200, made.text
    page.reload()
    stale = page.locator('#session-list .session[data-id="elsewhere"] .session-open')
    expect(stale).to_be_visible()
    assert api(site, token, "DELETE", "/api/chat/sessions/elsewhere").status_code == 200
    stale.click()
    expect(page.locator("#banner")).to_have_attribute("data-status", "404")
    expect(page.locator("#banner-text")).to_contain_text("elsewhere")
    # a revoked token sends the page back to the login form with a message
    site_admin = site.token
    resp = api(site, site_admin, "PATCH", "/api/admin/users/dana", json={"password": "another-password-1"})
    assert resp.status_code == 200
    page.click("#new-chat")
    page.click("#open-keys")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("log in again")
    # the backend going away: the page says so instead of going blank
    page.route("**/api/auth/login", lambda route: route.abort("connectionrefused"))
    page.fill("#login-username", "dana")
    page.fill("#login-password", "another-password-1")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("cannot reach the server")


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


XSS_VECTORS = [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=window.__pwned=1>",
    "[a](javascript:window.__pwned=1)",
    "[a](JAVASCRIPT:window.__pwned=1)",
    "[a](\x01javascript:window.__pwned=1)",
    "[a](java\x00script:window.__pwned=1)",
    "[a](data:text/html,<script>window.__pwned=1</script>)",
    "[a](vbscript:x)",
    '[a" onmouseover="window.__pwned=1](https://example.com)',
    '[a](https://example.com/" onmouseover="window.__pwned=1)',
    "```\n</code></pre><img src=x onerror=window.__pwned=1>\n```",
    "`<img src=x onerror=window.__pwned=1>`",
    "| <img src=x onerror=window.__pwned=1> | b |\n|---|---|\n| c | <svg onload=window.__pwned=1> |",
    "> <svg onload=window.__pwned=1>",
    "# <iframe src=javascript:window.__pwned=1>",
    "- **<b onclick=window.__pwned=1>x</b>**",
]

# Renders each input into a live element (images load and handlers would fire there), then
# reports any element or attribute that could run code.
CHECK_JS = """async (inputs) => {
  const { renderMarkdown } = await import('/web/js/markdown.js');
  const problems = [];
  for (const input of inputs) {
    const box = document.createElement('div');
    document.body.append(box);
    box.innerHTML = renderMarkdown(input);
    for (const node of box.querySelectorAll('*')) {
      if (!['P','BR','STRONG','EM','DEL','CODE','PRE','A','H1','H2','H3','H4','H5','H6','UL','OL','LI',
            'BLOCKQUOTE','HR','TABLE','THEAD','TBODY','TR','TH','TD'].includes(node.tagName))
        problems.push(input + ' -> <' + node.tagName + '>');
      for (const attr of node.attributes)
        if (!['href','target','rel','class'].includes(attr.name)) problems.push(input + ' -> @' + attr.name);
      if (node.tagName === 'A' && !['https:','http:','mailto:'].includes(new URL(node.href).protocol))
        problems.push(input + ' -> href ' + node.href);
    }
    box.remove();
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { problems, pwned: window.__pwned ?? null };
}"""


def test_markdown_renderer_neutralises_injection_and_renders_markdown(page: Any, site: Platform) -> None:
    page.goto(site.url + "/")
    result = page.evaluate(CHECK_JS, XSS_VECTORS)
    assert result == {"problems": [], "pwned": None}
    html = page.evaluate(
        """async (src) => (await import('/web/js/markdown.js')).renderMarkdown(src)""",
        "# Title\n\n- one\n- two\n\n1. first\n\n```py\nx = 1 < 2\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "see [docs](https://example.com/x?a=1&b=2) and `code`",
    )
    assert "<h1>Title</h1>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "<ol><li>first</li></ol>" in html
    assert '<pre><code class="language-py">x = 1 &lt; 2</code></pre>' in html
    assert "<th>a</th>" in html and "<td>2</td>" in html
    assert '<a href="https://example.com/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">docs</a>' in html
    assert "<code>code</code>" in html
