"""The default admin password (issue 11, item 5): a warning at every start while it works,
and no start at all on a non-loopback address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from core.default_admin import is_loopback
from tests.integration.conftest import platform_settings, serve_platform
from tests.scripted_llm import ScriptedLLM
from tests.servers import free_port, serve_app
from tools_service.main import create_app as create_tools_app

WARNING = "still has the default password"


def _log(data_dir: Path, name: str) -> str:
    """The app's log file (both apps log through one process-wide config in these tests)."""
    path = data_dir / "logs" / f"{name}.log"
    return path.read_text() if path.exists() else ""


def _warnings(caplog: pytest.LogCaptureFixture, app_name: str) -> int:
    return sum(1 for r in caplog.records if WARNING in r.getMessage() and r.getMessage().startswith(app_name))


def test_loopback_start_warns_until_the_password_changes(
    data_dir: Path, llm_server: ScriptedLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="core.default_admin")
    with serve_platform(data_dir, llm_server, with_tools=True) as p:
        assert _warnings(caplog, "main app") == 1
        with serve_app(create_tools_app(p.settings)):  # started after the accounts exist
            assert _warnings(caplog, "tools app") == 1
        me = httpx.get(p.url + "/api/auth/me", headers=p.headers()).json()
        resp = httpx.patch(
            f"{p.url}/api/admin/users/{me['id']}", json={"password": "a-better-secret-1"}, headers=p.headers()
        )
        assert resp.status_code == 200
    settings = platform_settings(data_dir, llm_server)
    with serve_app(create_app(settings)):
        pass
    assert _warnings(caplog, "main app") == 1, "no new warning once the password changed"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the refusal, as intended
def test_non_loopback_start_is_refused(data_dir: Path, llm_server: ScriptedLLM) -> None:
    exposed = platform_settings(data_dir, llm_server, server_host="0.0.0.0", tools_host="0.0.0.0")
    with pytest.raises(RuntimeError, match="failed to start"):
        with serve_app(create_app(exposed)):
            pass
    assert "refusing to start the main app on 0.0.0.0" in _log(data_dir, "main")
    with pytest.raises(RuntimeError, match="failed to start"):
        with serve_app(create_tools_app(exposed)):
            pass
    assert "refusing to start the tools app on 0.0.0.0" in _log(data_dir, "tools")


def test_the_server_process_exits_non_zero(data_dir: Path) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "test",
    }
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:create_app",
        "--factory",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
    ]
    env["SERVER_HOST"] = "0.0.0.0"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "refusing to start the main app on 0.0.0.0" in done.stderr


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org", ""))
