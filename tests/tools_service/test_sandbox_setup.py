"""When the sandbox cannot start, python_coder refuses with the fix; PYTHON_SANDBOX=none is an
explicit, loudly logged opt-out that still runs code with a clean environment and limits."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.tools_service.conftest import CODE, ToolsAppFactory, requires_bwrap


def refuse(factory: ToolsAppFactory) -> dict:
    with factory() as app, app.user("alice") as alice:
        resp = alice.post(CODE, json={"code": "print('ran')", "session_id": "s1"})
        assert app.settings.data_dir.joinpath("scratch").exists() is False  # nothing was set up for it
    assert resp.status_code == 200
    return resp.json()


def test_missing_bubblewrap_is_refused_with_the_fix(
    tools_app_factory: ToolsAppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    body = refuse(tools_app_factory)
    assert body["success"] is False and body["metadata"]["error"] == "sandbox_unavailable"
    assert "bubblewrap (bwrap) is not installed" in body["answer"]
    assert "apt-get install bubblewrap" in body["answer"] and "PYTHON_SANDBOX=none" in body["answer"]


def test_a_bwrap_that_cannot_create_namespaces_is_refused_with_the_fix(
    tools_app_factory: ToolsAppFactory, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What bubblewrap prints where unprivileged user namespaces are disabled. The folder must be
    # reachable by the sandbox uid (pytest's tmp_path is not), hence a world-readable one in /tmp.
    bindir = Path(tempfile.mkdtemp(prefix="fake-bwrap-"))
    bindir.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(bindir, ignore_errors=True))
    script = bindir / "bwrap"
    script.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create a new namespace, likely because the kernel does not "
        "allow non-privileged user namespaces.' >&2\nexit 1\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    body = refuse(tools_app_factory)
    assert body["success"] is False
    assert "No permissions to create a new namespace" in body["answer"]
    assert "unprivileged_userns_clone" in body["answer"] and "PYTHON_SANDBOX=none" in body["answer"]


def test_sandbox_none_is_an_explicit_logged_opt_out(
    tools_app_factory: ToolsAppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    os.environ["LLM_API_OPT_OUT_SECRET"] = "do-not-leak"
    try:
        with caplog.at_level(logging.WARNING), tools_app_factory(python_sandbox="none", python_exec_timeout=2.0) as app:
            with app.user("alice") as alice:
                ran = alice.post(CODE, json={"code": "import os; print(dict(os.environ))", "session_id": "s1"}).json()
                looped = alice.post(CODE, json={"code": "while True: pass", "session_id": "s1"}).json()
    finally:
        os.environ.pop("LLM_API_OPT_OUT_SECRET", None)
    assert any("PYTHON_SANDBOX=none" in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)
    assert ran["success"] and ran["metadata"]["sandbox"] == "none"
    assert "do-not-leak" not in ran["data"]["stdout"] and app.settings.tools_key not in ran["data"]["stdout"]
    assert looped["success"] is False and looped["metadata"]["stopped"] == "timeout"


@requires_bwrap
def test_the_default_is_the_bwrap_sandbox(tools_app_factory: ToolsAppFactory) -> None:
    with tools_app_factory() as app, app.user("alice") as alice:
        body = alice.post(CODE, json={"code": "import os; print(os.getcwd())", "session_id": "s1"}).json()
    assert app.settings.python_sandbox == "bwrap" and app.settings.tools_host == "127.0.0.1"
    assert body["metadata"]["sandbox"] == "bwrap" and body["data"]["stdout"] == "/workspace\n"


_CHECK = """
import asyncio, sys, tempfile
from pathlib import Path
from tests.conftest import make_settings
from tools_service.sandbox import Sandbox
from tools_service.workspace import Workspaces
settings = make_settings(Path(tempfile.mkdtemp()))
sandbox = Sandbox(settings, Workspaces(settings.data_dir, settings.python_sandbox_uid))
try:
    print(asyncio.run(sandbox.check()))
finally:
    sandbox.close()
"""


@requires_bwrap
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_root_service_without_cap_sys_admin_is_told_why(tmp_path: Path) -> None:
    # A root tools app stages its mounts in a private mount namespace; without CAP_SYS_ADMIN
    # (say, an unprivileged container) that fails, and the refusal must say so.
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        ["setpriv", "--bounding-set", "-sys_admin", sys.executable, "-c", _CHECK],
        capture_output=True, text=True, timeout=120, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "a root tools app needs CAP_SYS_ADMIN" in proc.stdout.splitlines()[-1]
