"""python_coder over real HTTP with the real bubblewrap sandbox: the service boundary,
persistence of a session's workspace, the data stack, and the workspace file endpoints."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core.security import create_access_token
from tests.tools_service.conftest import CODE, FILES, ToolsApp, ToolsAppFactory, requires_bwrap

pytestmark = requires_bwrap


def run(client: httpx.Client, code: str, session_id: str = "s1", **extra: object) -> dict:
    resp = client.post(CODE, json={"code": code, "session_id": session_id, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- the service boundary ---------------------------------------------------------------------


def test_health_is_open_and_everything_else_needs_a_token(tools_app: ToolsApp) -> None:
    with httpx.Client(base_url=tools_app.url) as anon:
        assert anon.get("/health").status_code == 200
        for method, path, kwargs in [
            ("POST", CODE, {"json": {"code": "print(1)", "session_id": "s1"}}),
            ("GET", "/api/tools/list", {}),
            ("GET", f"{FILES}/s1", {}),
            ("GET", f"{FILES}/s1/a.txt", {}),
            ("DELETE", f"{FILES}/s1", {}),
            ("POST", "/api/tools/websearch", {"json": {"query": "x"}}),
        ]:
            resp = anon.request(method, path, **kwargs)
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.json()["error"]["type"] == "authentication_error"
        forged = create_access_token("alice", "another-secret-of-enough-length-0123456789", hours=1)
        body = {"code": "print(1)", "session_id": "s1"}
        resp = anon.post(CODE, json=body, headers={"Authorization": f"Bearer {forged}"})
        assert resp.status_code == 401
        resp = anon.post(CODE, json=body, headers={"X-API-Key": "wrong", "X-User-Id": "a"})
        assert resp.status_code == 401
        # The service key alone does not say who the user is.
        resp = anon.post(CODE, json=body, headers={"X-API-Key": tools_app.settings.tools_key})
        assert resp.status_code == 401


def test_identity_comes_from_the_token_not_the_body(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice:
        body = run(alice, "open('mine.txt', 'w').write('a')", user_id="bob", user="bob")
    assert body["success"], body
    assert (tools_app.workspace("alice", "s1") / "mine.txt").exists()
    assert not tools_app.workspace("bob", "s1").exists()
    with tools_app.service("bob") as main_app:
        assert run(main_app, "print(open('mine.txt').read())")["success"] is False  # bob's own, empty workspace
        listed = main_app.get(f"{FILES}/s1").json()
    assert listed["data"]["files"] == [] or all(f["name"] != "mine.txt" for f in listed["data"]["files"])


def test_tools_list_describes_each_tool(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice:
        tools = {t["name"]: t for t in alice.get("/api/tools/list").json()["tools"]}
    for name in ("python_coder", "websearch"):
        assert tools[name]["description"]
        assert tools[name]["parameters"]["type"] == "object"
    assert tools["python_coder"]["parameters"]["required"] == ["code"]


@pytest.mark.parametrize("session_id", ["../bob", "a/b", "..", ".hidden", "x" * 129, "a b", "%2e%2e", "", "café"])
def test_bad_session_ids_are_refused(tools_app: ToolsApp, session_id: str) -> None:
    with tools_app.user("alice") as alice:
        resp = alice.post(CODE, json={"code": "print(1)", "session_id": session_id})
    assert resp.status_code in (400, 422), resp.text
    assert "session_id" in resp.json()["error"]["message"]


def test_bad_requests_are_4xx_with_a_message(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice:
        assert alice.post(CODE, json={"session_id": "s1"}).status_code == 422
        assert alice.post(CODE, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
        resp = alice.post(CODE, json={"code": "print(1)", "session_id": "s1", "timeout": -1})
        assert resp.status_code == 422 and resp.json()["error"]["message"]


# -- running code ------------------------------------------------------------------------------


def test_run_reports_output_exit_code_and_files(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice:
        body = run(alice, "import sys\nprint('hello')\nprint('warn', file=sys.stderr)\nopen('out.txt','w').write('x')")
    assert body["success"] is True
    data = body["data"]
    assert data["stdout"] == "hello\n" and data["stderr"] == "warn\n" and data["exit_code"] == 0
    assert data["truncated"] is False and data["duration_ms"] >= 0
    assert [f["name"] for f in data["files"]] == ["out.txt"]
    assert set(body) == {"success", "answer", "data", "metadata"}


def test_a_failing_program_is_a_tool_failure_not_an_http_error(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice:
        body = run(alice, "raise ValueError('boom')")
    assert body["success"] is False
    assert body["data"]["exit_code"] == 1
    assert "ValueError: boom" in body["answer"] and "ValueError: boom" in body["data"]["stderr"]


def test_session_ids_the_main_app_issues_are_accepted(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice:
        for session_id in ("0f8e2a9c4b7d4e1f9a3b5c6d7e8f9012", "chat.v2_draft-1", "x" * 128):
            assert run(alice, "print('ok')", session_id=session_id)["success"], session_id


def test_files_persist_between_runs_of_a_session_only(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice:
        assert run(alice, "import json; json.dump({'n': 41}, open('state.json', 'w'))")["success"]
        body = run(alice, "import json; print(json.load(open('state.json'))['n'] + 1)")
        assert body["data"]["stdout"] == "42\n"
        other = run(alice, "import os; print(sorted(os.listdir('.')))", session_id="s2")
        assert other["data"]["stdout"] == "[]\n"


def test_numpy_pandas_matplotlib_work_headless(tools_app: ToolsApp) -> None:
    code = (
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.DataFrame({'x': np.arange(5), 'y': np.arange(5) ** 2})\n"
        "df.plot(x='x', y='y'); plt.savefig('plot.png')\n"
        "print(int(df.y.sum()))\n"
    )
    with tools_app.user("alice") as alice:
        body = run(alice, code)
        assert body["success"], body
        assert body["data"]["stdout"] == "30\n"
        png = alice.get(f"{FILES}/s1/plot.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_timeout_from_the_request_is_capped_by_the_setting(tools_app_factory: ToolsAppFactory) -> None:
    with tools_app_factory(python_exec_timeout=1.0) as app, app.user("alice") as alice:
        body = run(alice, "import time; time.sleep(30)", timeout=60)
    assert body["success"] is False
    assert body["metadata"]["timeout"] == 1.0 and body["metadata"]["stopped"] == "timeout"
    assert body["data"]["duration_ms"] < 10_000
    assert "longer than" in body["answer"]


# -- workspace files ---------------------------------------------------------------------------


def test_upload_list_read_and_delete(tools_app: ToolsApp) -> None:
    with tools_app.service("alice") as main_app:
        resp = main_app.post(f"{FILES}/s1", files={"file": ("sales.csv", b"a,b\n1,2\n3,4\n")})
        assert resp.status_code == 200 and resp.json()["success"], resp.text
        body = run(main_app, "import pandas as pd; print(int(pd.read_csv('sales.csv').b.sum()))")
        assert body["data"]["stdout"] == "6\n"
        listed = main_app.get(f"{FILES}/s1").json()["data"]["files"]
        assert {"name": "sales.csv", "size": 12} in listed
        assert main_app.get(f"{FILES}/s1/sales.csv").content == b"a,b\n1,2\n3,4\n"
        assert main_app.get(f"{FILES}/s1/missing.csv").status_code == 404
        main_app.post(f"{FILES}/s1", files={"file": ("old.csv", b"x")}, data={"filename": "tmp/old.csv"})
        assert main_app.delete(f"{FILES}/s1/tmp/old.csv").json()["success"] is True
        assert main_app.delete(f"{FILES}/s1/tmp/old.csv").status_code == 404
        assert main_app.delete(f"{FILES}/s1/tmp").status_code == 404  # folders go with the workspace
        assert main_app.delete(f"{FILES}/s1").json()["data"]["removed"] is True
        assert not tools_app.workspace("alice", "s1").exists()
        assert main_app.get(f"{FILES}/s1/sales.csv").status_code == 404


def test_files_of_one_user_are_invisible_to_another(tools_app: ToolsApp) -> None:
    with tools_app.user("alice") as alice, tools_app.user("bob") as bob:
        assert run(alice, "open('secret.txt', 'w').write('alice only')")["success"]
        assert bob.get(f"{FILES}/s1/secret.txt").status_code == 404
        assert bob.get(f"{FILES}/s1").json()["data"]["files"] == []
        assert bob.delete(f"{FILES}/s1").json()["data"]["removed"] is False
    assert (tools_app.workspace("alice", "s1") / "secret.txt").exists()


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fbob%2Fs1%2Fsecret.txt",
        "%2E%2E/%2E%2E/bob/s1/secret.txt",
        "%2e%2e%2f%2e%2e%2fbob%2fs1%2fsecret.txt",
        "%252e%252e%252fbob%252fs1%252fsecret.txt",
        "%2Fetc%2Fpasswd",
        "..%5C..%5Cbob%5Cs1%5Csecret.txt",
        "sub%00.txt",
    ],
)
def test_path_traversal_through_the_files_endpoint_is_refused(tools_app: ToolsApp, path: str) -> None:
    bob_ws = tools_app.workspace("bob", "s1")
    bob_ws.mkdir(parents=True)
    (bob_ws / "secret.txt").write_text("bob only")
    with tools_app.user("alice") as alice:
        run(alice, "open('a.txt', 'w').write('a')")
        # httpx would normalise `..`; send the raw, encoded target as an attacker would.
        resp = alice.get(httpx.URL(f"{tools_app.url}{FILES}/s1/{path}"))
    assert resp.status_code in (400, 404), (path, resp.status_code)
    assert b"bob only" not in resp.content and b"root:" not in resp.content


def test_symlinks_planted_by_code_are_never_followed(tools_app: ToolsApp) -> None:
    secrets_file = tools_app.settings.data_dir / "secrets.json"
    secrets_file.write_text(tools_app.settings.tools_key)
    code = (
        "import os\n"
        f"os.symlink({str(secrets_file)!r}, 'secrets.json')\n"
        "os.symlink('/etc/passwd', 'passwd')\n"
        "os.symlink('/', 'root')\n"
    )
    with tools_app.user("alice") as alice, tools_app.service("alice") as main_app:
        assert run(alice, code)["success"]
        for name in ("secrets.json", "passwd", "root/etc/passwd"):
            resp = alice.get(f"{FILES}/s1/{name}")
            assert resp.status_code == 404, name
            assert tools_app.settings.tools_key.encode() not in resp.content
        assert alice.delete(f"{FILES}/s1/root/etc/passwd").status_code == 404
        assert alice.delete(f"{FILES}/s1/secrets.json").json()["success"]  # the link goes, not its target
        assert secrets_file.read_text() == tools_app.settings.tools_key
        # An upload over a planted symlink replaces the link; it never writes through it.
        target = tools_app.settings.data_dir / "victim.txt"
        target.write_text("untouched")
        assert run(alice, f"import os; os.symlink({str(target)!r}, 'upload.txt')")["success"]
        resp = main_app.post(f"{FILES}/s1", files={"file": ("upload.txt", b"new content")})
        assert resp.status_code == 200, resp.text
    assert target.read_text() == "untouched"
    link = tools_app.workspace("alice", "s1") / "upload.txt"
    assert not link.is_symlink() and link.read_bytes() == b"new content"
    assert os.path.islink(tools_app.workspace("alice", "s1") / "passwd")  # listed nowhere, served nowhere


@pytest.mark.parametrize("name", ["../x.txt", "/etc/cron.d/x", "a/../../x", ".hidden/../x", "..", "a\\b"])
def test_upload_names_are_checked(tools_app: ToolsApp, name: str) -> None:
    with tools_app.service("alice") as main_app:
        resp = main_app.post(f"{FILES}/s1", files={"file": ("f", b"x")}, data={"filename": name})
    assert resp.status_code == 400, resp.text
    assert not (tools_app.settings.data_dir / "scratch" / "alice" / "x.txt").exists()


def test_matplotlib_font_cache_is_built_once_and_shared_read_only(tools_app: ToolsApp) -> None:
    # Built in the background after start-up; every later run finds it in its fresh /tmp.
    code = "import os; d = '/tmp/.matplotlib'; print(sorted(os.listdir(d)) if os.path.isdir(d) else [])"
    deadline = time.monotonic() + 60
    with tools_app.user("alice") as alice:
        while "fontlist-" not in (out := run(alice, code)["data"]["stdout"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "fontlist-" in out
        tamper = "import glob; open(glob.glob('/tmp/.matplotlib/fontlist-*')[0], 'w').write('{}')"
        assert "Read-only file system" in run(alice, tamper)["data"]["stderr"]


def test_runs_of_one_session_take_turns(tools_app: ToolsApp) -> None:
    # Three runs at once in one workspace: each appends its start and end; none may interleave.
    code = (
        "import time\n"
        "with open('log.txt', 'a') as f: f.write('start\\n')\n"
        "time.sleep(0.3)\n"
        "with open('log.txt', 'a') as f: f.write('end\\n')\n"
    )
    with tools_app.user("alice") as alice, ThreadPoolExecutor(3) as pool:
        bodies = list(pool.map(lambda _: run(alice, code, session_id="turns"), range(3)))
        assert all(b["success"] for b in bodies), bodies
        log = alice.get(f"{FILES}/turns/log.txt").text.split()
    assert log == ["start", "end"] * 3


@pytest.mark.parametrize("session", ["..%2Fbob%2Fs1", "%2E%2E", "..", "s1%00", "bob%2Fs1"])
def test_files_endpoints_refuse_bad_session_ids(tools_app: ToolsApp, session: str) -> None:
    bob_ws = tools_app.workspace("bob", "s1")
    bob_ws.mkdir(parents=True)
    (bob_ws / "secret.txt").write_text("bob only")
    with tools_app.user("alice") as alice:
        for method in ("GET", "DELETE"):
            for suffix in ("", "/secret.txt"):
                resp = alice.request(method, httpx.URL(f"{tools_app.url}{FILES}/{session}{suffix}"))
                assert resp.status_code in (400, 404, 405), (method, session, suffix, resp.status_code)
                assert b"bob only" not in resp.content
    assert (bob_ws / "secret.txt").exists()


def test_cpu_seconds_are_limited_apart_from_the_wall_clock(tools_app_factory: ToolsAppFactory) -> None:
    with tools_app_factory(python_exec_cpu_seconds=1, python_exec_timeout=30.0) as app, app.user("alice") as alice:
        started = time.monotonic()
        body = run(alice, "while True:\n    pass\n")
    assert time.monotonic() - started < 15
    assert body["success"] is False and body["metadata"]["stopped"] is None  # the kernel stopped it, not the timer
    assert body["data"]["exit_code"] != 0


def test_a_caller_that_hangs_up_stops_the_run(tools_app: ToolsApp) -> None:
    """A cancelled agent run closes its connection: the code must not run on to its timeout."""
    code = "import time\ntime.sleep(3)\nopen('finished.txt', 'w').write('ran to the end')\n"
    with tools_app.user("alice", timeout=0.8) as client, pytest.raises(httpx.ReadTimeout):
        client.post("/api/tools/python_coder", json={"code": code, "session_id": "hangup"})
    time.sleep(4)
    assert not (tools_app.workspace("alice", "hangup") / "finished.txt").exists(), "the run was killed"
    with tools_app.user("alice") as client:  # and the service goes on serving that session
        assert run(client, "print('next')", "hangup")["data"]["stdout"] == "next\n"
