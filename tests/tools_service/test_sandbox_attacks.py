"""The attack suite: what model-written code might try, against the real bubblewrap sandbox.

Each attack must be contained, and the service must keep serving afterwards. Limits are set
low through settings so that a broken sandbox cannot take the machine down: short timeouts,
a small process limit, a small quota, and attacks written to stop on their own.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.accounts import ensure_account
from tests.tools_service.conftest import CODE, FILES, ToolsApp, requires_bwrap, run_tools_app

pytestmark = requires_bwrap

SECRET_ENV = "LLM_API_ATTACK_SUITE_SECRET"
SECRET_VALUE = f"env-secret-{uuid.uuid4().hex}"
LIMITS = {
    "python_exec_timeout": 8.0,  # generous: a loaded CI machine must not fail the benign runs
    "python_exec_cpu_seconds": 10,
    "python_exec_memory_mb": 512,
    "python_exec_max_processes": 32,
    "python_exec_max_file_mb": 8,
    "python_exec_workspace_quota_mb": 32,
    "python_exec_tmp_mb": 16,
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolsApp]:
    os.environ[SECRET_ENV] = SECRET_VALUE  # a secret in the service's own environment
    data_dir = tmp_path_factory.mktemp("attack") / "data"
    data_dir.mkdir()
    try:
        with run_tools_app(data_dir, **LIMITS) as served:
            (served.settings.data_dir / "secrets.json").write_text(served.settings.tools_key)
            # The accounts database (a real one: the tools app reads it), holding a decoy hash.
            ensure_account(served.settings, "alice")
            with sqlite3.connect(served.settings.data_dir / "app.db") as db:
                db.execute("UPDATE user SET hashed_password = 'users: admin password hash'")
            bob = served.workspace("bob", "s1")
            bob.mkdir(parents=True)
            (bob / "secret.txt").write_text("bob's private notes")
            yield served
    finally:
        os.environ.pop(SECRET_ENV, None)


def boot_ticks() -> int:
    with open("/proc/uptime") as fh:
        return int(float(fh.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def sandbox_pids(uid: int, since: int) -> set[int]:
    """Processes of the sandbox uid started since `since` (ticks after boot): other test runs on a
    shared machine may run their own sandboxes, but not inside this test's window and this long."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
                with open(f"/proc/{entry}/stat") as fh:
                    started = int(fh.read().rsplit(")", 1)[1].split()[19])
            except (OSError, ValueError, IndexError):
                continue
            if started >= since:
                pids.add(int(entry))
    return pids


def attack(app: ToolsApp, code: str, session_id: str = "s1", timeout: float = 60) -> dict:
    with app.user("alice", timeout=timeout) as alice:
        resp = alice.post(CODE, json={"code": code, "session_id": session_id})
    assert resp.status_code == 200, resp.text  # never a 500
    return resp.json()


def assert_still_serving(app: ToolsApp, since: int) -> None:
    with httpx.Client(base_url=app.url, timeout=30) as anon:
        assert anon.get("/health").status_code == 200
    body = attack(app, "print(6 * 7)", session_id="healthcheck")
    assert body["success"] and body["data"]["stdout"] == "42\n", body
    if os.geteuid() == 0:
        deadline = time.monotonic() + 5
        while sandbox_pids(app.settings.python_sandbox_uid, since) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not sandbox_pids(app.settings.python_sandbox_uid, since), "sandbox processes outlived their run"


def secrets_of(app: ToolsApp) -> list[str]:
    return [SECRET_VALUE, app.settings.tools_key, app.settings.jwt_secret, "bob's private notes", "password hash"]


def test_environment_and_proc_environ_hold_no_secrets(app: ToolsApp) -> None:
    since = boot_ticks()
    code = (
        "import os, glob\n"
        "print(dict(os.environ))\n"
        "for path in glob.glob('/proc/*/environ') + ['/proc/self/environ', '/proc/1/environ']:\n"
        "    try: print(path, open(path, 'rb').read())\n"
        "    except OSError as e: print(path, 'denied', e)\n"
        f"for pid in [1, {os.getpid()}]:\n"
        "    try: print(open(f'/proc/{pid}/cmdline', 'rb').read())\n"
        "    except OSError as e: print(e)\n"
    )
    body = attack(app, code)
    out = body["data"]["stdout"] + body["data"]["stderr"]
    assert body["data"]["exit_code"] == 0, body
    for secret in secrets_of(app):
        assert secret not in out
    assert "JWT" not in out and "TOOLS_API_KEY" not in out and "TAVILY" not in out
    assert_still_serving(app, since)


def test_data_dir_and_other_workspaces_are_out_of_reach(app: ToolsApp) -> None:
    since = boot_ticks()
    data_dir = app.settings.data_dir
    targets = [
        data_dir / "secrets.json",
        data_dir / "app.db",
        app.workspace("bob", "s1") / "secret.txt",
        "../bob/s1/secret.txt",
        "../../bob/s1/secret.txt",
        "/workspace/../bob/s1/secret.txt",
        "/etc/shadow",
        "/root/.bash_history",
    ]
    code = (
        "import os\n"
        + "".join(
            f"try: print('READ', {str(t)!r}, open({str(t)!r}).read())\nexcept OSError as e: print('no', e)\n"
            for t in targets
        )
        + f"print(os.path.exists({str(data_dir)!r}), os.path.exists('/proc/1/root/' + {str(data_dir)!r}))\n"
    )
    body = attack(app, code)
    out = body["data"]["stdout"]
    assert "READ" not in out, out
    assert out.strip().endswith("False False"), out
    for secret in secrets_of(app):
        assert secret not in out + body["data"]["stderr"]
    # ... nor through the files endpoint, as alice naming bob's session.
    with app.user("alice") as alice:
        assert alice.get(f"{FILES}/s1/secret.txt").status_code == 404
    assert_still_serving(app, since)


def test_no_network_not_even_the_hosts_loopback(app: ToolsApp) -> None:
    since = boot_ticks()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    tools_port = int(app.url.rsplit(":", 1)[1])
    host_ip = socket.gethostbyname(socket.gethostname())
    code = (
        "import socket\n"
        f"for host, port in [('127.0.0.1', {port}), ('127.0.0.1', {tools_port}), ({host_ip!r}, {tools_port}),\n"
        "                   ('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
        "    s = socket.socket(); s.settimeout(1)\n"
        "    try: s.connect((host, port)); print('CONNECTED', host, port)\n"
        "    except OSError as e: print('refused', host, port, e)\n"
        "try: socket.getaddrinfo('example.com', 80); print('RESOLVED')\n"
        "except OSError as e: print('no dns', e)\n"
    )
    try:
        body = attack(app, code)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert "CONNECTED" not in body["data"]["stdout"] and "RESOLVED" not in body["data"]["stdout"], body
    assert [line.split()[0] for line in body["data"]["stdout"].splitlines()] == ["refused"] * 5 + ["no"]
    assert_still_serving(app, since)


def test_writes_outside_the_workspace_fail_or_stay_private(app: ToolsApp) -> None:
    since = boot_ticks()
    marker = f"pwned-{uuid.uuid4().hex}"
    targets = ["/" + marker, "/usr/" + marker, "/etc/" + marker, "/dev/" + marker, "/home/" + marker,
               str(app.settings.data_dir / marker), str(Path(os.__file__).parent / marker),
               "/proc/sys/kernel/" + marker]  # fmt: skip
    code = (
        "".join(
            f"try: open({t!r}, 'w').write('x'); print('WROTE', {t!r})\nexcept OSError as e: print('no', e)\n"
            for t in targets
        )
        + f"open('/tmp/{marker}', 'w').write('private tmp'); print('tmp ok')\n"
    )
    body = attack(app, code)
    assert "WROTE" not in body["data"]["stdout"], body
    assert "tmp ok" in body["data"]["stdout"]
    assert not Path("/tmp", marker).exists()  # the sandbox's /tmp is its own
    for t in targets:
        assert not Path(t).exists()
    assert_still_serving(app, since)


def test_infinite_loop_is_killed_at_the_timeout(app: ToolsApp) -> None:
    since = boot_ticks()
    started = time.monotonic()
    body = attack(app, "while True:\n    pass\n")
    assert time.monotonic() - started < 20
    assert body["success"] is False and body["metadata"]["stopped"] == "timeout", body
    assert_still_serving(app, since)


def test_background_processes_die_with_the_run(app: ToolsApp) -> None:
    since = boot_ticks()
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('bye')\n"
    )
    body = attack(app, code)
    assert body["data"]["stdout"] == "bye\n"
    assert_still_serving(app, since)  # checks that no sandbox process is left


def test_16_gb_allocation_fails_inside_the_sandbox(app: ToolsApp) -> None:
    since = boot_ticks()
    body = attack(app, "x = bytearray(16 * 1024 ** 3)\nprint('ALLOCATED')\n")
    assert body["success"] is False and "MemoryError" in body["data"]["stderr"], body
    assert "ALLOCATED" not in body["data"]["stdout"]
    body = attack(app, "import numpy as np\nx = np.ones(2 * 1024 ** 3)\nprint('ALLOCATED')\n")
    assert body["success"] is False and "ALLOCATED" not in body["data"]["stdout"], body
    assert_still_serving(app, since)


def test_fork_bomb_is_bounded_per_sandbox_and_spares_other_sessions(app: ToolsApp) -> None:
    since = boot_ticks()
    # Bounded on purpose: at most 300 sleeping children, so a broken limit cannot take the machine down.
    bomb = (
        "import os, time\n"
        "made = 0\n"
        "for _ in range(300):\n"
        "    try: pid = os.fork()\n"
        "    except OSError: break\n"
        "    if pid == 0:\n"
        "        time.sleep(30); os._exit(0)\n"
        "    made += 1\n"
        "print('forked', made, flush=True)\n"
        "time.sleep(2)  # hold the processes while another session runs\n"
    )
    with ThreadPoolExecutor(2) as pool:
        bombed = pool.submit(attack, app, bomb, "bomb")
        time.sleep(1.0)
        with app.user("bob") as bob:
            victim = bob.post(CODE, json={"code": "import subprocess; print(subprocess.run(['true']).returncode)",
                                          "session_id": "victim"}).json()  # fmt: skip
        body = bombed.result()
    forked = int(body["data"]["stdout"].split()[-1])
    assert forked < LIMITS["python_exec_max_processes"], body
    assert victim["success"] and victim["data"]["stdout"] == "0\n", victim
    assert_still_serving(app, since)  # the sleeping children were killed with the run


def test_writing_4_gb_to_disk_is_stopped_at_the_quota(app: ToolsApp) -> None:
    since = boot_ticks()
    code = (
        "import os\n"
        "chunk = b'x' * (1024 * 1024)\n"
        "written = 0\n"
        "for n in range(4096):\n"
        "    try:\n"
        "        with open(f'big{n}.bin', 'wb') as f:\n"
        "            while written < 4 * 1024 ** 3:\n"
        "                f.write(chunk); written += len(chunk)\n"
        "    except OSError as e:\n"
        "        pass\n"
        "    if written >= 4 * 1024 ** 3: break\n"
        "print('wrote', written)\n"
    )
    body = attack(app, code, session_id="disk")
    assert body["success"] is False and body["metadata"]["stopped"] == "quota", body
    quota = LIMITS["python_exec_workspace_quota_mb"] * 1024 * 1024
    total = sum(p.stat().st_size for p in app.workspace("alice", "disk").rglob("*") if p.is_file())
    assert total <= quota
    # /tmp is a small private tmpfs: filling it is refused too, and costs the host nothing.
    body = attack(app, "f = open('/tmp/fill', 'wb')\ntry:\n    while True: f.write(b'x' * 1048576)\n"
                       "except OSError as e: print('full', e.errno)\n")  # fmt: skip
    assert body["data"]["stdout"].startswith("full"), body
    assert_still_serving(app, since)


def test_printing_100_mb_is_capped(app: ToolsApp) -> None:
    since = boot_ticks()
    body = attack(app, "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1024 * 1024)\n")
    data = body["data"]
    assert data["truncated"] is True
    assert len(data["stdout"]) <= app.settings.python_exec_max_output_bytes
    assert "truncated" in body["answer"]
    assert_still_serving(app, since)


def test_no_namespaces_or_privileges_inside(app: ToolsApp) -> None:
    since = boot_ticks()
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, flag in [('user', 0x10000000), ('mount', 0x00020000), ('net', 0x40000000)]:\n"
        "    print(name, 'ALLOWED' if libc.unshare(flag) == 0 else 'refused')\n"
        "try: os.setuid(0); print('ROOT')\n"
        "except OSError as e: print('no root', e.errno)\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
    )
    body = attack(app, code)
    out = body["data"]["stdout"]
    assert "ROOT" not in out and out.strip().endswith("0000000000000000"), body
    assert "mount ALLOWED" not in out and "net ALLOWED" not in out, out
    if "--disable-userns" in subprocess.run(["bwrap", "--help"], capture_output=True, text=True).stdout:
        assert "user refused" in out, out
    assert_still_serving(app, since)
