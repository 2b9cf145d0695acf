"""`llm-api user ...` and `llm-api clear ...` against a temporary DATA_DIR, including while
the app serves it (the recovery case), and once through the installed entry module."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import main
from settings import get_settings
from tests.integration.conftest import Platform


@pytest.fixture(autouse=True)
def cli_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = ""
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_user_add_list_passwd_disable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            monkeypatch, capsys, "user", "add", "root2", "--role", "admin", "--password-stdin", stdin="first-password\n"
        )[0]
        == 0
    )
    assert run(monkeypatch, capsys, "user", "add", "root2", "--password-stdin", stdin="other-password\n")[0] == 1
    assert run(monkeypatch, capsys, "user", "add", "x", "--password-stdin", stdin="long-enough\n")[0] == 2
    assert run(monkeypatch, capsys, "user", "add", "shorty", "--password-stdin", stdin="short\n")[0] == 2
    code, out = run(monkeypatch, capsys, "user", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1].split()[:3] == ["root2", "admin", "active"]

    # The only admin cannot be disabled; a second one makes it possible.
    assert run(monkeypatch, capsys, "user", "disable", "root2")[0] == 1
    assert (
        run(
            monkeypatch, capsys, "user", "add", "root3", "--role", "admin", "--password-stdin", stdin="third-password\n"
        )[0]
        == 0
    )
    assert run(monkeypatch, capsys, "user", "disable", "root2")[0] == 0
    assert "disabled" in run(monkeypatch, capsys, "user", "list")[1].splitlines()[1]
    assert run(monkeypatch, capsys, "user", "disable", "root2", "--enable")[0] == 0
    assert run(monkeypatch, capsys, "user", "passwd", "nobody", "--password-stdin", stdin="whatever-pw\n")[0] == 1


def test_recovery_while_the_app_runs(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The admin forgot the password: `user passwd` on the database lets them back in, and
    tokens issued before stop working; `user disable` locks a user out at once."""
    user_token = platform.signup("mallory")
    time.sleep(1.05)  # token `iat` has one-second resolution
    assert run(monkeypatch, capsys, "user", "passwd", "admin", "--password-stdin", stdin="recovered-pw-1\n")[0] == 0
    assert httpx.get(platform.url + "/api/auth/me", headers=platform.headers()).status_code == 401
    assert platform.login("admin", "recovered-pw-1")
    assert run(monkeypatch, capsys, "user", "disable", "mallory")[0] == 0
    assert httpx.get(platform.url + "/api/auth/me", headers=platform.headers(user_token)).status_code == 401


def test_clear_asks_first_then_deletes_only_what_was_chosen(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = platform.signup("carol")
    files = [("files", ("a.txt", b"hello", "text/plain"))]
    form = {"model": "chat", "session_id": "keep-or-not", "messages": '[{"role":"user","content":"hi"}]'}
    httpx.post(
        platform.v1 + "/chat/completions", headers=platform.headers(token), data=form, files=files
    ).raise_for_status()
    data_dir = platform.settings.data_dir
    for folder in ("scratch", "rag"):
        (data_dir / folder / "x").mkdir(parents=True)
        (data_dir / folder / "x" / "f.bin").write_bytes(b"1")

    code, out = run(monkeypatch, capsys, "clear", "--sessions", "--uploads", stdin="no\n")
    assert code == 1 and "This permanently deletes" in out
    history = httpx.get(platform.url + "/api/chat/history/keep-or-not", headers=platform.headers(token))
    assert history.status_code == 200 and history.json()["messages"]

    assert run(monkeypatch, capsys, "clear", "--sessions", "--uploads", stdin="yes\n")[0] == 0
    assert httpx.get(platform.url + "/api/chat/history/keep-or-not", headers=platform.headers(token)).status_code == 404
    assert httpx.get(platform.url + "/api/chat/sessions", headers=platform.headers(token)).json()["total"] == 0
    assert list((data_dir / "uploads").iterdir()) == []
    assert (data_dir / "scratch" / "x" / "f.bin").exists() and (data_dir / "rag" / "x" / "f.bin").exists()
    # The checkpoints really are gone: reusing the id starts an empty conversation.
    form["messages"] = '[{"role":"user","content":"again"}]'
    httpx.post(platform.v1 + "/chat/completions", headers=platform.headers(token), data=form).raise_for_status()
    assert platform.llm.user_messages(-1) == ["again"]

    assert run(monkeypatch, capsys, "clear", "--scratch", "--rag", "--yes")[0] == 0
    assert list((data_dir / "scratch").iterdir()) == [] and list((data_dir / "rag").iterdir()) == []
    assert run(monkeypatch, capsys, "clear")[0] == 2


def test_entry_module_runs_the_subcommands(data_dir: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    added = subprocess.run(
        [sys.executable, "-m", "app.cli", "user", "add", "viaproc", "--password-stdin"],
        input="process-password\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "app.cli", "user", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert "viaproc" in listed.stdout
