"""Uploads are never whole in memory (issue 11, item 3): a file near MAX_FILE_SIZE_MB goes
through the main app's chat upload (stored, described, copied to the workspace) and the
tools app's RAG upload (parsed, indexed) while the serving process's peak Python memory
stays far below the file's size.

Memory is measured, not time: tracemalloc traces every allocation of this process, which
serves both apps (uvicorn threads) and is the client. The client sends the file from
disk (httpx reads 64 KB at a time), so the only way to reach the bound is for a server to
hold the file. The document is parsed in a child process, which tracemalloc does not see:
that child has its own memory limit (core/documents).
"""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest

from tests.integration.conftest import serve_platform
from tests.rag.conftest import ServerFactory
from tests.scripted_llm import ScriptedLLM
from tests.security.bombs import docx_bomb
from tests.tools_service.conftest import ToolsAppFactory

MB = 1024 * 1024
FILE_MB = 60  # the file, just under the limit below
LIMIT_MB = 64  # MAX_FILE_SIZE_MB for these tests
BOUND_MB = 16  # peak traced memory allowed while one such upload is served


@pytest.fixture(scope="module")
def big_docx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Word document with a FILE_MB stored (incompressible, never parsed) member:
    large on the wire and on disk, a few words of text for the parser."""
    import docx

    path = tmp_path_factory.mktemp("big") / "big.docx"
    document = docx.Document()
    document.add_heading("Streaming plan", level=1)
    document.add_paragraph("Uploads go to disk in chunks, never whole into memory.")
    document.save(str(path))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
        with archive.open("word/media/blob.bin", "w", force_zip64=True) as member:
            for _ in range(FILE_MB):
                member.write(os.urandom(MB))
    assert FILE_MB * MB < path.stat().st_size < LIMIT_MB * MB
    return path


def _sha256(path: Path | None = None, data: bytes | None = None) -> str:
    digest = hashlib.sha256()
    if data is not None:
        digest.update(data)
    if path is not None:
        with path.open("rb") as fh:
            while block := fh.read(MB):
                digest.update(block)
    return digest.hexdigest()


def _peak_while(send: Callable[[], httpx.Response]) -> tuple[httpx.Response, int]:
    """The response and the peak bytes traced while it was served (all threads)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        response = send()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return response, peak


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_chat_upload_streams_and_a_refusal_leaves_no_file(
    data_dir: Path, llm_server: ScriptedLLM, big_docx: Path
) -> None:
    with serve_platform(data_dir, llm_server, with_tools=True, max_file_size_mb=LIMIT_MB) as p:
        token = p.signup("zoe")
        uid = str(httpx.get(p.url + "/api/auth/me", headers=p.headers(token)).json()["id"])
        form = {"model": "chat", "session_id": "big", "messages": json.dumps([{"role": "user", "content": "hi"}])}

        def send(fh: BinaryIO) -> Callable[[], httpx.Response]:
            files: Any = [("files", ("plan.docx", fh, "application/octet-stream"))]
            return lambda: httpx.post(p.v1 + "/chat/completions", headers=p.headers(token), data=form, files=files,
                                      timeout=300)  # fmt: skip

        with big_docx.open("rb") as fh:
            resp, peak = _peak_while(send(fh))
        assert resp.status_code == 200, resp.text
        print(f"chat upload of {big_docx.stat().st_size / MB:.1f} MB: peak traced {peak / MB:.2f} MB")
        assert peak < BOUND_MB * MB, f"serving the upload held {peak / MB:.1f} MB at its peak"

        prompt = "\n".join(str(m["content"]) for m in p.llm.requests[-1]["messages"] if m["role"] == "system")
        assert "plan.docx" in prompt and "headings: Streaming plan" in prompt and "in your workspace" in prompt
        assert "NOT in your workspace" not in prompt
        folder = data_dir / "uploads" / uid / "big"
        assert sorted(f.name for f in folder.iterdir() if f.is_file()) == ["plan.docx"], "no temp file is left"
        assert _sha256(folder / "plan.docx") == _sha256(big_docx)
        workspace = data_dir / "scratch" / uid / "big"
        assert [f.name for f in workspace.iterdir() if f.is_file()] == ["plan.docx"]
        assert _sha256(workspace / "plan.docx") == _sha256(big_docx)

        # A bomb beside it: the large file is staged (written) before the bomb is parsed, and
        # the refusal removes it: no file, temp or final, in the new session or its workspace.
        form["session_id"] = "bomb"
        with big_docx.open("rb") as fh:
            files: Any = [("files", ("plan.docx", fh, "application/octet-stream")),
                          ("files", ("letter.docx", docx_bomb(), "application/octet-stream"))]  # fmt: skip
            resp = httpx.post(p.v1 + "/chat/completions", headers=p.headers(token), data=form, files=files, timeout=300)
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"]["code"] == "file_too_complex" and "letter.docx" in resp.json()["error"]["message"]
        assert _files(data_dir / "uploads" / uid / "bomb") == [], "neither the large file nor its temp copy is left"
        assert _files(data_dir / "scratch" / uid / "bomb") == []


def test_rag_upload_streams_and_a_refusal_leaves_no_file(
    rag_server: ServerFactory, data_dir: Path, big_docx: Path
) -> None:
    from tests.conftest import make_settings

    with rag_server(settings_=make_settings(data_dir, max_file_size_mb=LIMIT_MB)) as server:
        alice = server.client()
        assert alice.create("kb").status_code == 201

        def send(fh: BinaryIO) -> Callable[[], httpx.Response]:
            files: Any = [("files", ("plan.docx", fh))]
            return lambda: alice.http.post("/api/tools/rag/upload", data={"collection": "kb"}, files=files, timeout=300)

        with big_docx.open("rb") as fh:
            resp, peak = _peak_while(send(fh))
        assert resp.status_code == 200, resp.text
        print(f"RAG upload of {big_docx.stat().st_size / MB:.1f} MB: peak traced {peak / MB:.2f} MB")
        assert peak < BOUND_MB * MB, f"serving the upload held {peak / MB:.1f} MB at its peak"
        assert [d["filename"] for d in alice.documents("kb")] == ["plan.docx"]
        assert alice.results("kb", "uploads chunks memory")[0]["filename"] == "plan.docx"
        assert [f for f in _files(data_dir / "rag") if ".incoming" in f.parts] == [], "no temp file is left"

        # A bomb beside it: the batch is refused after both were staged, nothing is indexed or left.
        assert alice.create("kb2").status_code == 201
        with big_docx.open("rb") as fh:
            files: Any = [("files", ("plan.docx", fh)), ("files", ("letter.docx", docx_bomb()))]
            resp = alice.http.post("/api/tools/rag/upload", data={"collection": "kb2"}, files=files, timeout=300)
        assert resp.status_code == 413, resp.text
        assert "letter.docx" in resp.json()["error"]["message"]
        assert alice.documents("kb2") == []
        assert [f for f in _files(data_dir / "rag") if ".incoming" in f.parts] == []


def test_a_workspace_upload_over_the_limit_is_413_and_leaves_nothing(tools_app_factory: ToolsAppFactory) -> None:
    with tools_app_factory(max_file_size_mb=1) as app, app.service("vera") as main_app:
        over = main_app.post("/api/tools/python_coder/files/s1", files={"file": ("big.bin", b"x" * (MB + 1))})
        assert over.status_code == 413, over.text
        workspace = app.workspace("vera", "s1")
        assert _files(workspace) == [], "no temp or partial file"
        fits = main_app.post("/api/tools/python_coder/files/s1", files={"file": ("big.bin", b"x" * MB)})
        assert fits.status_code == 200, fits.text
        assert [(f.name, f.stat().st_size) for f in _files(workspace)] == [("big.bin", MB)]
