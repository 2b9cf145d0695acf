"""Files attached to /v1/chat/completions: safe storage, size and type checks, metadata the
model sees, the copy into the session's python workspace, cleanup on delete."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import ScriptedLLM

CSV = b"city,population,area\nParis,2100000,105.4\nLyon,516000,47.9\nNice,342000,71.9\n"
JSON = json.dumps({"name": "demo", "items": [1, 2, 3], "owner": {"id": 7}}).encode()
PY = b"""import math

def area(radius: float, *, precise: bool = False) -> float:
    return math.pi * radius ** 2

class Shape(Base):
    def scale(self, factor):
        pass

async def fetch(url):
    pass
"""
MD = b"# Report\n\nSome text.\n\n## Findings\n\nMore.\n"


def _xlsx() -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        pd.DataFrame({"sku": ["a1", "b2"], "qty": [3, 4]}).to_excel(writer, sheet_name="stock", index=False)
        pd.DataFrame({"month": ["jan"], "sales": [1.5]}).to_excel(writer, sheet_name="sales", index=False)
    return buf.getvalue()


def _pdf() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["pdf.fonttype"] = 42
    fig = plt.figure()
    fig.text(0.1, 0.5, "Quarterly revenue grew strongly")
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"Title": "Q3 summary"})
    plt.close(fig)
    return buf.getvalue()


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Project plan", level=1)
    document.add_paragraph("We start in May.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def send(
    p: Platform, token: str, files: list[tuple[str, bytes]], session_id: str = "files", text: str = "what did I send?"
) -> httpx.Response:
    data = {"model": "chat", "session_id": session_id, "messages": json.dumps([{"role": "user", "content": text}])}
    parts = [("files", (name, content, "application/octet-stream")) for name, content in files]
    return httpx.post(p.v1 + "/chat/completions", headers=p.headers(token), data=data, files=parts, timeout=60)


def system_prompt(p: Platform) -> str:
    return "\n".join(str(m["content"]) for m in p.llm.requests[-1]["messages"] if m["role"] == "system")


def user_id(p: Platform, token: str) -> str:
    return str(httpx.get(p.url + "/api/auth/me", headers=p.headers(token)).json()["id"])


def all_files(root: Path) -> set[str]:
    return {str(f.relative_to(root)) for f in root.rglob("*") if f.is_file()}


def test_metadata_of_every_format_reaches_the_model(platform: Platform) -> None:
    token = platform.signup("alice")
    files = [
        ("cities.csv", CSV),
        ("data.json", JSON),
        ("geometry.py", PY),
        ("notes.md", MD),
        ("book.xlsx", _xlsx()),
        ("summary.pdf", _pdf()),
        ("plan.docx", _docx()),
    ]
    resp = send(platform, token, files)
    assert resp.status_code == 200, resp.text
    prompt = system_prompt(platform)
    for expected in (
        "cities.csv",
        "3 rows x 3 columns",
        "columns: city (",
        "population (int64)",
        "area (float64)",
        "Paris",
        "JSON object with 3 keys: name (string), items (array), owner (object)",
        "def area(radius: float, *, precise: bool=False) -> float",
        "class Shape(Base)",
        "def scale(self, factor)",
        "async def fetch(url)",
        "headings: # Report; ## Findings",
        "Excel workbook, 2 sheet(s)",
        "sheet 'stock': 2 rows x 2 columns",
        "qty (int64)",
        "sheet 'sales'",
        "PDF, 1 page(s), title: Q3 summary",
        "Quarterly revenue grew strongly",
        "Word document, 2 paragraphs",
        "headings: Project plan",
    ):
        assert expected in prompt, f"{expected!r} missing from:\n{prompt}"

    folder = platform.settings.data_dir / "uploads" / user_id(platform, token) / "files"
    assert {f.name for f in folder.iterdir() if f.is_file()} == {n for n, _ in files}
    assert (folder / "cities.csv").read_bytes() == CSV

    # A later turn without files still tells the model what the session holds.
    history = [
        {"role": "user", "content": "what did I send?"},
        resp.json()["choices"][0]["message"],
        {"role": "user", "content": "and the columns?"},
    ]
    httpx.post(
        platform.v1 + "/chat/completions",
        headers=platform.headers(token),
        json={"model": "chat", "session_id": "files", "messages": history},
    ).raise_for_status()
    assert "population (int64)" in system_prompt(platform)


def test_corrupt_files_are_described_not_fatal(platform: Platform) -> None:
    token = platform.signup("bob")
    files = [
        ("broken.json", b'{"unterminated": '),
        ("broken.pdf", b"%PDF-1.7 garbage"),
        ("broken.xlsx", b"PK\x03\x04 not really a zip"),
        ("broken.py", b"def oops(:\n"),
        ("broken.csv", b'a,b\n"unclosed,1\n'),
    ]
    resp = send(platform, token, files)
    assert resp.status_code == 200, resp.text
    prompt = system_prompt(platform)
    for name in ("JSON", "PDF", "XLSX", "PY"):
        assert f"could not read this {name} file" in prompt, prompt
    assert "broken.csv" in prompt


def test_path_traversal_names_stay_inside_the_session_folder(platform: Platform) -> None:
    token = platform.signup("carol")
    data_dir = platform.settings.data_dir
    before = all_files(data_dir)

    rejected = send(platform, token, [("../../etc/passwd", b"root:x:0:0")], session_id="t1")
    assert rejected.status_code == 415
    assert rejected.json()["error"]["code"] == "unsupported_file_type"
    assert not (data_dir / "uploads").exists() or not any((data_dir / "uploads").rglob("passwd*"))
    sessions = httpx.get(platform.url + "/api/chat/sessions", headers=platform.headers(token)).json()
    assert sessions["total"] == 0, "a rejected upload must not leave a session behind"

    for evil in ("../../evil.txt", "..\\..\\evil.txt", "/etc/evil.txt", "....//evil.txt"):
        assert send(platform, token, [(evil, b"hello")], session_id="t2").status_code == 200
    folder = data_dir / "uploads" / user_id(platform, token) / "t2"
    assert sorted(f.name for f in folder.iterdir() if f.is_file()) == [
        "evil (1).txt",
        "evil (2).txt",
        "evil (3).txt",
        "evil.txt",
    ]
    new = all_files(data_dir) - before
    outside = [
        f
        for f in new
        if not f.startswith(f"uploads/{user_id(platform, token)}/t2/")
        and not f.endswith((".db", ".db-wal", ".db-shm", ".log"))
    ]
    assert outside == []


def test_same_name_twice_keeps_both(platform: Platform) -> None:
    token = platform.signup("dave")
    send(platform, token, [("data.csv", b"a\n1\n")]).raise_for_status()
    send(platform, token, [("data.csv", b"a\n2\n")]).raise_for_status()
    folder = platform.settings.data_dir / "uploads" / user_id(platform, token) / "files"
    assert (folder / "data.csv").read_bytes() == b"a\n1\n"
    assert (folder / "data (1).csv").read_bytes() == b"a\n2\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("tool.exe", b"MZ\x90\x00"),
        ("noext", b"hello"),
        ("picture.png", b"this is not a png"),
        ("report.pdf", b"<html>not a pdf</html>"),
        ("table.xlsx", b"a,b\n1,2\n"),
        ("notes.txt", b"text\x00with\x00nul bytes"),
    ],
)
def test_wrong_types_are_415_and_nothing_is_written(platform: Platform, name: str, content: bytes) -> None:
    token = platform.signup("erin")
    resp = send(platform, token, [("fine.csv", b"a\n1\n"), (name, content)])
    assert resp.status_code == 415, resp.text
    assert resp.json()["error"]["param"] == "files"
    assert not (platform.settings.data_dir / "uploads").exists(), "the valid file must not be written either"


@pytest.fixture
def small_limit(data_dir: Path, llm_server: ScriptedLLM) -> Iterator[Platform]:
    with serve_platform(data_dir, llm_server, max_file_size_mb=1) as p:
        yield p


def test_oversize_upload_is_413(small_limit: Platform) -> None:
    token = small_limit.signup("frank")
    big = b"x" * (1024 * 1024 + 1)
    resp = send(small_limit, token, [("big.txt", big)])
    assert resp.status_code == 413
    assert "MAX_FILE_SIZE_MB=1" in resp.json()["error"]["message"]
    assert not (small_limit.settings.data_dir / "uploads").exists()
    assert send(small_limit, token, [("ok.txt", b"x" * (1024 * 1024))]).status_code == 200


def test_tools_app_down_upload_still_succeeds(platform: Platform) -> None:
    token = platform.signup("gina")
    assert send(platform, token, [("cities.csv", CSV)]).status_code == 200
    assert "NOT in your workspace: copy failed" in system_prompt(platform)


def _workspace_file(p: Platform, uid: str, sid: str, name: str) -> httpx.Response:
    return httpx.get(
        f"{p.settings.tools_url}/api/tools/python_coder/files/{sid}/{name}",
        headers={"X-API-Key": p.settings.tools_key, "X-User-Id": uid},
    )


def test_upload_is_copied_to_the_workspace_and_delete_removes_everything(platform_with_tools: Platform) -> None:
    p = platform_with_tools
    token = p.signup("hana")
    uid = user_id(p, token)
    assert send(p, token, [("cities.csv", CSV)], session_id="ws").status_code == 200
    assert "cities.csv (" in system_prompt(p) and "in your workspace" in system_prompt(p)
    assert "NOT in your workspace" not in system_prompt(p)
    copy = _workspace_file(p, uid, "ws", "cities.csv")
    assert copy.status_code == 200 and copy.content == CSV

    other: Any = p.signup("ivan")
    assert _workspace_file(p, user_id(p, other), "ws", "cities.csv").status_code == 404

    resp = httpx.delete(p.url + "/api/chat/sessions/ws", headers=p.headers(token))
    assert resp.json()["deleted"] is True
    assert not (p.settings.data_dir / "uploads" / uid / "ws").exists()
    assert _workspace_file(p, uid, "ws", "cities.csv").status_code == 404
