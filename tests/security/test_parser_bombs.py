"""Parser bombs (issue 11, item 2): refused with 413 naming the file, nothing indexed or
stored, and parsed in a limited child so neither app's process grows.

Memory is measured, not time: the parsing child reports its own peak RSS (getrusage), and
the server process (this test process, which serves the apps in threads) is read from
/proc via psutil. The parser enforces its own timeout; nothing here waits on a clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import psutil
import pytest

from core.documents import DocumentLimits, TooLarge, extract_text_sync, runner
from tests.integration.conftest import Platform
from tests.rag.conftest import ServerFactory
from tests.security.bombs import docx_bomb, pdf_flate_bomb, xlsx_dimension_bomb, xlsx_wide_rows_bomb

MB = 1024 * 1024
BUDGET_MB = 300

BOMBS: dict[str, Callable[[], bytes]] = {
    "sheet.xlsx": xlsx_wide_rows_bomb,
    "report.pdf": pdf_flate_bomb,
    "letter.docx": docx_bomb,
}


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _child_peak_mb() -> float:
    return runner.LAST_PEAK_RSS_KB[0] / 1024


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_are_refused_by_the_parser(name: str) -> None:
    data = BOMBS[name]()
    assert len(data) < 1.1 * MB
    with pytest.raises(TooLarge, match=name.replace(".", r"\.")):
        extract_text_sync(name, data)
    assert 0 < _child_peak_mb() < BUDGET_MB


def test_a_lying_dimension_is_ignored_not_padded() -> None:
    """The 8000-row sheet that claims 16384 columns is read as what it holds: 8000 x 1."""
    data = xlsx_dimension_bomb()
    assert len(data) < 4.8 * 1024
    text = extract_text_sync("claims.xlsx", data)
    assert text.count("x") == 8000
    assert _child_peak_mb() < 100


def test_the_parser_enforces_its_timeout_and_memory_limit() -> None:
    """Limits too small for the document: the child is stopped, the caller gets TooLarge."""
    with pytest.raises(TooLarge, match=r"report\.pdf"):
        extract_text_sync("report.pdf", pdf_flate_bomb(64), DocumentLimits(memory_mb=120, max_unpacked_bytes=10**9))
    with pytest.raises(TooLarge, match="longer than"):
        extract_text_sync("slow.pdf", pdf_flate_bomb(64), DocumentLimits(timeout=0.05))


def test_rag_upload_of_a_bomb_is_413_and_nothing_is_indexed(rag_server: ServerFactory) -> None:
    with rag_server() as server:
        alice = server.client()
        assert alice.create("docs").status_code == 201
        for name, make in BOMBS.items():
            data = make()
            before = _rss()
            resp = alice.upload("docs", {"fine.txt": b"a harmless note", name: data})
            grown = (_rss() - before) / MB
            assert resp.status_code == 413, resp.text
            assert name in resp.json()["error"]["message"]
            assert grown < BUDGET_MB, f"{name}: the server grew by {grown:.0f} MB"
            assert _child_peak_mb() < BUDGET_MB
            assert alice.documents("docs") == []
        ok = alice.upload("docs", {"claims.xlsx": xlsx_dimension_bomb()})
        assert ok.status_code == 200, ok.text


def test_chat_upload_of_a_bomb_is_413_and_nothing_is_stored(platform: Platform) -> None:
    token = platform.signup("erin")
    uploads = platform.settings.data_dir / "uploads"
    for name, make in BOMBS.items():
        data = {"model": "chat", "session_id": "bombs", "messages": json.dumps([{"role": "user", "content": "hi"}])}
        files = [("files", ("fine.csv", b"a,b\n1,2\n", "text/csv")), ("files", (name, make(), "application/x"))]
        before = _rss()
        resp = httpx.post(platform.v1 + "/chat/completions", headers=platform.headers(token), data=data, files=files)
        grown = (_rss() - before) / MB
        assert resp.status_code == 413, resp.text
        assert name in resp.json()["error"]["message"]
        assert grown < BUDGET_MB, f"{name}: the server grew by {grown:.0f} MB"
        assert _child_peak_mb() < BUDGET_MB
        assert not uploads.exists() or not [p for p in uploads.rglob("*") if p.is_file()]
    sessions = httpx.get(platform.url + "/api/chat/sessions", headers=platform.headers(token)).json()
    assert sessions["total"] == 0
