"""The web chat's main flow in a real headless Chromium, against the real main app, tools
app and sandbox, with the scripted LLM: log in, a react run streaming its progress, stop,
reload, attach a file, workspace files, rename and delete; the RAG panel; errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.integration.conftest import Platform
from tests.integration.web.browser import ARTIFACTS, GatedLLM, api, expect, log_in, requires_browser, send
from tests.scripted_llm import Reply, tool_call

pytestmark = requires_browser


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


def test_errors_are_shown_in_the_page(page: Any, site: Platform, llm: GatedLLM) -> None:
    token = site.signup("dana")
    log_in(page, site, "dana")
    # the LLM backend failing: the reply says so, the page keeps working
    page.select_option("#model-select", "chat")
    llm.push(*[Reply(status=503)] * 5)  # more than the client's retries
    send(page, "are you there?")
    failed = page.locator(".msg.assistant").last
    expect(failed).to_have_class(re.compile(r"\bfailed\b"))
    llm.script.clear()
    expect(failed.locator(".status")).to_contain_text("Error:")
    expect(page.locator("#send")).to_be_enabled()
    page.click("#new-chat")
    page.click("#banner-close")
    before = api(site, token, "GET", "/api/chat/sessions").json()["data"]
    # upload too large (MAX_FILE_SIZE_MB=1 here): 413 in the banner, no session created
    page.set_input_files("#attach", files=[{"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * 1_200_000}])
    send(page, "too big")
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner")).to_have_attribute("data-status", "413")
    assert api(site, token, "GET", "/api/chat/sessions").json()["data"] == before
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
