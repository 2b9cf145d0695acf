"""One port for users: RAG, python_coder and workspace files through the main app's
`/api/tools/...`, forwarded to a real tools app as the caller, never as anyone else."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Platform
from tests.integration.tools_platform import serve_with_tools
from tests.scripted_llm import ScriptedLLM
from tests.servers import serve_app
from tests.tools_service.fake_tavily import FAKE_KEY, fake_tavily_app
from tools_service.routes import rag as rag_routes

TOOLS = "/api/tools"
requires_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture
def p(data_dir: Path, llm_server: ScriptedLLM) -> Iterator[Platform]:
    with serve_with_tools(data_dir, llm_server) as platform:
        yield platform


def client(p: Platform, token: str) -> httpx.Client:
    return httpx.Client(base_url=p.url + TOOLS, headers=p.headers(token), timeout=60)


def user_id(p: Platform, token: str) -> str:
    return str(httpx.get(p.url + "/api/auth/me", headers=p.headers(token)).json()["id"])


def test_rag_create_upload_query_and_documents_on_the_main_port(p: Platform) -> None:
    with client(p, p.signup("alice")) as alice:
        assert alice.post("/rag/collections", json={"name": "notes"}).status_code == 201
        files = [
            ("files", ("zebra.txt", b"Zebras are striped animals living in Africa.")),
            ("files", ("kettle.md", b"# Kettles\nA kettle boils water for tea.")),
        ]
        up = alice.post("/rag/upload", data={"collection": "notes"}, files=files)
        assert up.status_code == 200, up.text
        assert up.json()["success"] is True and len(up.json()["data"]["document_ids"]) == 2

        names = [c["name"] for c in alice.get("/rag/collections").json()["data"]["collections"]]
        assert names == ["notes"]
        docs = alice.get("/rag/collections/notes/documents").json()["data"]["documents"]
        assert sorted(d["filename"] for d in docs) == ["kettle.md", "zebra.txt"]

        hits = alice.post("/rag/query", json={"collection": "notes", "query": "striped zebras"}).json()
        assert hits["data"]["results"][0]["filename"] == "zebra.txt"

        zebra = next(d["id"] for d in docs if d["filename"] == "zebra.txt")
        assert alice.delete(f"/rag/collections/notes/documents/{zebra}").status_code == 200
        left = alice.get("/rag/collections/notes/documents").json()["data"]["documents"]
        assert [d["filename"] for d in left] == ["kettle.md"]
        # the tools app's own errors come back unchanged
        refused = alice.post("/rag/upload", data={"collection": "notes"}, files=[("files", ("x.exe", b"MZ"))])
        assert refused.status_code == 415 and refused.json()["error"]["code"] == "unsupported_media_type"
        assert alice.delete("/rag/collections/notes").status_code == 200


def test_another_users_collections_and_workspace_are_invisible(p: Platform) -> None:
    alice_token = p.signup("alice")
    alice_id = user_id(p, alice_token)
    with client(p, alice_token) as alice, client(p, p.signup("bob")) as bob:
        assert alice.post("/rag/collections", json={"name": "secret"}).status_code == 201
        up = alice.post("/rag/upload", data={"collection": "secret"}, files=[("files", ("s.txt", b"launch codes"))])
        assert up.status_code == 200
        stored = alice.post("/python_coder/files/s1", files={"file": ("plan.txt", b"alice's plan")})
        assert stored.status_code == 200, stored.text

        # bob claims to be alice every way a client could: headers, query string, body
        spoof = {"X-User-Id": alice_id, "X-API-Key": p.settings.tools_key}
        listed = bob.get("/rag/collections", headers=spoof, params={"user_id": alice_id})
        assert listed.json()["data"]["collections"] == []
        query = bob.post(
            "/rag/query", json={"collection": "secret", "query": "launch codes", "user_id": alice_id}, headers=spoof
        )
        assert query.status_code == 404, query.text
        assert bob.get("/python_coder/files/s1", headers=spoof).json()["data"]["files"] == []
        assert bob.get("/python_coder/files/s1/plan.txt", headers=spoof).status_code == 404
        # alice still sees her own
        assert alice.get("/python_coder/files/s1/plan.txt").content == b"alice's plan"


@requires_bwrap
def test_python_coder_runs_and_its_files_download_through_the_main_app(p: Platform) -> None:
    with client(p, p.signup("carol")) as carol:
        run = carol.post(
            "/python_coder",
            json={"session_id": "calc", "code": "open('out.txt','w').write(str(17*23))\nprint(6*7)"},
        )
        assert run.status_code == 200, run.text
        assert run.json()["success"] is True and run.json()["data"]["stdout"].strip() == "42"
        files = carol.get("/python_coder/files/calc").json()["data"]["files"]
        assert "out.txt" in [f["name"] for f in files]
        download = carol.get("/python_coder/files/calc/out.txt")
        assert download.status_code == 200 and download.text == "391"
        assert "attachment" in download.headers["content-disposition"]


def test_large_upload_streams_through_and_comes_back_byte_identical(p: Platform) -> None:
    blob = os.urandom(8 * 1024 * 1024)
    with client(p, p.signup("dora")) as dora:
        up = dora.post("/python_coder/files/big", files={"file": ("blob.bin", blob)})
        assert up.status_code == 200, up.text
        assert up.json()["data"]["size"] == len(blob)
        with dora.stream("GET", "/python_coder/files/big/blob.bin") as resp:
            assert resp.headers["content-length"] == str(len(blob))
            digest = hashlib.sha256()
            for chunk in resp.iter_bytes():
                digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(blob).hexdigest()
        gone = dora.delete("/python_coder/files/big/blob.bin")
        assert gone.status_code == 200 and dora.get("/python_coder/files/big").json()["data"]["files"] == []


def test_api_keys_work_and_anonymous_or_unknown_calls_are_refused(p: Platform) -> None:
    token = p.signup("erin")
    key = httpx.post(p.url + "/api/keys", json={"name": "k"}, headers=p.headers(token)).json()["key"]
    with client(p, key) as erin:
        assert erin.post("/rag/collections", json={"name": "k"}).status_code == 201
        assert [c["name"] for c in erin.get("/rag/collections").json()["data"]["collections"]] == ["k"]
        # only the user-facing endpoints: removing a whole workspace is the session delete's job
        assert erin.delete("/python_coder/files/s1").status_code == 404
        assert erin.get("/nope").status_code == 404
    for method, path in (("GET", "/rag/collections"), ("POST", "/rag/query"), ("GET", "/python_coder/files/s")):
        resp = httpx.request(method, p.url + TOOLS + path)
        assert resp.status_code == 401 and resp.json()["error"]["type"] == "authentication_error"
    # the tools app's service key is not a user credential on the main app
    forged = httpx.get(
        p.url + TOOLS + "/rag/collections", headers={"X-API-Key": p.settings.tools_key, "X-User-Id": "x"}
    )
    assert forged.status_code == 401


def test_tools_app_down_is_a_503_envelope(platform: Platform) -> None:
    resp = httpx.get(platform.url + TOOLS + "/rag/collections", headers=platform.headers())
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "tools_unavailable"


def test_websearch_passes_through_as_the_caller(data_dir: Path, llm_server: ScriptedLLM) -> None:
    tavily = fake_tavily_app()
    with serve_app(tavily) as tavily_url:
        with serve_with_tools(data_dir, llm_server, tavily_api_key=FAKE_KEY, tavily_base_url=tavily_url) as p:
            with client(p, p.signup("gina")) as gina:
                body = gina.post("/websearch", json={"query": "langgraph", "max_results": 2}).json()
    assert body["success"] is True, body
    assert [r["url"] for r in body["data"]["results"]] == ["https://example.com/1", "https://example.com/2"]
    assert tavily.state.requests[-1]["body"]["query"] == "langgraph"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough uses curl")
def test_the_rag_curl_walkthrough_runs_as_printed(p: Platform, tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rag.md").read_text()
    section = doc.split("## curl walkthrough on the main app's port", 1)[1]
    [script] = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    script = script.replace("http://127.0.0.1:10007", p.url).replace("/tmp/zebras.txt", str(tmp_path / "z.txt"))
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr + run.stdout
    out = run.stdout
    assert '"error"' not in out
    assert "created collection walkthrough" in out and "indexed 1 document(s) into walkthrough" in out
    assert '"filename":"z.txt"' in out and "deleted collection walkthrough" in out


@pytest.mark.skipif(not hasattr(rag_routes, "get_job"), reason="this tools app has no background uploads")
def test_background_upload_job_and_stats_through_the_main_port(p: Platform) -> None:
    with client(p, p.signup("hugo")) as hugo, client(p, p.signup("ivy")) as ivy:
        assert hugo.post("/rag/collections", json={"name": "bg"}).status_code == 201
        files = [("files", ("owl.txt", b"Owls hunt at night and see well in the dark."))]
        started = hugo.post("/rag/upload", data={"collection": "bg", "background": "true"}, files=files)
        assert started.status_code == 202, started.text
        job_id = started.json()["data"]["job"]["id"]
        assert ivy.get(f"/rag/jobs/{job_id}").status_code == 404  # another user's job is not found
        job = hugo.get(f"/rag/jobs/{job_id}", params={"wait": 30}).json()["data"]["job"]
        assert job["status"] == "done", job
        assert hugo.get("/rag/collections/bg/stats").json()["data"]["chunks"] >= 1
        assert hugo.post("/rag/collections/bg/optimize").status_code == 200
        hits = hugo.post("/rag/query", json={"collection": "bg", "query": "owls at night"}).json()["data"]["results"]
        assert hits[0]["filename"] == "owl.txt"
