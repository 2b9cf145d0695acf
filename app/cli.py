"""`llm-api`: start the platform (`serve`), one app (`main`, `tools`), or the embedded model.

`serve`: the embedded model (llama.cpp's server, once), the tools app, the main app; Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app import cli_admin
from core.private import UMASK
from settings import Settings, get_settings

__all__ = ["main", "build_parser"]

log = logging.getLogger("llm_api.cli")


def _uvicorn(factory: str, host: str, port: int, workers: int, grace: float) -> list[str]:
    """One app under uvicorn; on SIGTERM it drains open requests for `grace` s (DRAIN_GRACE_SECONDS)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        str(max(1, math.ceil(grace))),
    ]


def _main_app(settings: Settings) -> list[str]:
    return _uvicorn(
        "app.main:create_app",
        settings.server_host,
        settings.server_port,
        settings.server_workers,
        settings.drain_grace_seconds,
    )


def _tools_app(settings: Settings) -> list[str]:
    return _uvicorn(
        "tools_service.main:create_app",
        settings.tools_host,
        settings.tools_port,
        settings.tools_server_workers,
        settings.drain_grace_seconds,
    )


def _die_with_parent() -> None:
    """In the child: get SIGTERM if `llm-api serve` dies without cleaning up (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[Any]:
    return subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)


def _wait_http(url: str, proc: subprocess.Popen[Any], what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode} during start-up")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{what} did not answer at {url} within {timeout:.0f} s")


def _stop(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


class _Child:
    """One supervised process: how to start it, where it answers, and its restart history."""

    def __init__(self, name: str, cmd: list[str], health: str, env: dict[str, str], run_dir: Path) -> None:
        self.name, self.cmd, self.health, self.env, self.run_dir = name, cmd, health, env, run_dir
        self.proc: subprocess.Popen[Any] | None = None
        self.started = 0.0
        self.failures = 0  # crashes in a row (reset once it has stayed up for STABLE_AFTER s)
        self.restart_at: float | None = None

    def start(self) -> None:
        self.proc = _spawn(self.cmd, self.env)
        self.started = time.monotonic()
        self.restart_at = None
        (self.run_dir / f"{self.name}.pid").write_text(str(self.proc.pid))

    def wait_ready(self) -> None:
        assert self.proc is not None
        _wait_http(self.health, self.proc, self.name)


STABLE_AFTER = 60.0  # seconds up after which a child's crash count starts again
MAX_BACKOFF = 30.0


def _supervise(children: list[_Child], sleep: Any = time.sleep) -> None:
    """Restart any child that exits, with exponential backoff (1, 2, 4 … 30 s), logging each
    crash; the others keep serving meanwhile (chat works while the tools app restarts).
    Returns only through KeyboardInterrupt (Ctrl-C, SIGTERM)."""
    while True:
        now = time.monotonic()
        for child in children:
            proc = child.proc
            if child.restart_at is not None:
                if now >= child.restart_at:
                    log.info("restarting %s (attempt %d)", child.name, child.failures)
                    child.start()
                continue
            if proc is None or proc.poll() is None:
                continue
            if now - child.started > STABLE_AFTER:
                child.failures = 0
            child.failures += 1
            delay = min(MAX_BACKOFF, 2.0 ** (child.failures - 1))
            log.error(
                "%s exited with status %s; restarting it in %.0f s (the others keep serving)",
                child.name,
                proc.returncode,
                delay,
            )
            child.restart_at = now + delay
        sleep(0.5)


def _metrics_dir(env: dict[str, str], run_dir: Path, name: str, workers: int) -> dict[str, str]:
    """A fresh PROMETHEUS_MULTIPROC_DIR per multi-worker app (core/metrics.py), unless set."""
    if workers < 2 or env.get("PROMETHEUS_MULTIPROC_DIR"):
        return env
    folder = run_dir / f"prometheus-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {**env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}


def cmd_serve(args: argparse.Namespace) -> int:
    from core.llm import choose_backend

    settings = get_settings().ensure_secrets()
    env = dict(os.environ)
    children: list[_Child] = []
    run_dir = settings.data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    backend, reason = asyncio.run(choose_backend(settings))
    # Ctrl-C and `kill`/systemd stop shut down the same clean way. SIGINT is set explicitly:
    # a shell starts background jobs with it ignored, and Python keeps that.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if backend == "embedded" and not settings.embedded_server_url:
            port = args.embedded_port or _free_port()
            log.info("starting the embedded model (%s) on port %d", reason, port)
            cmd = [sys.executable, "-m", "app.cli", "embedded", "--port", str(port)]
            url = f"http://127.0.0.1:{port}"
            children.append(_Child("embedded", cmd, url + "/v1/models", env, run_dir))
            children[-1].start()
            children[-1].wait_ready()
            env["LLM_BACKEND"] = "embedded"
            env["EMBEDDED_SERVER_URL"] = url
            env["LLM_BACKEND_REASON"] = reason
        tools_health = f"http://{_client_host(settings.tools_host)}:{settings.tools_port}/health"
        tools_env = _metrics_dir(env, run_dir, "tools", settings.tools_server_workers)
        children.append(_Child("tools app", _tools_app(settings), tools_health, tools_env, run_dir))
        children[-1].start()
        children[-1].wait_ready()
        base = f"http://{_client_host(settings.server_host)}:{settings.server_port}"
        main_env = _metrics_dir(env, run_dir, "main", settings.server_workers)
        children.append(_Child("main app", _main_app(settings), base + "/health", main_env, run_dir))
        children[-1].start()
        children[-1].wait_ready()
        log.info("LLM API is up: %s/v1 (OpenAI-compatible; log in at %s/api/auth/login)", base, base)
        _supervise(children)
        return 0  # pragma: no cover - _supervise returns only by KeyboardInterrupt
    except KeyboardInterrupt:
        log.info("stopping")
        return 0
    finally:
        _stop([c.proc for c in children if c.proc is not None])


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_one(cmd: list[str]) -> int:
    """One app in the foreground: SIGTERM/SIGINT reach it as SIGTERM; it dies with this process."""
    proc = _spawn(cmd, dict(os.environ))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: proc.send_signal(signal.SIGTERM))  # a no-op once it has exited
    return proc.wait()


def cmd_main(args: argparse.Namespace) -> int:
    return _run_one(_main_app(get_settings()))


def cmd_tools(args: argparse.Namespace) -> int:
    return _run_one(_tools_app(get_settings()))


def cmd_embedded(args: argparse.Namespace) -> int:
    """Host the embedded GGUF in llama.cpp's server until interrupted."""
    from core.llm import EmbeddedServer

    server = EmbeddedServer(get_settings(), host=args.host, port=args.port)
    url = server.start()
    log.info("embedded model serving at %s/v1", url)
    stop = False

    def _on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop:
        time.sleep(0.3)
    server.stop()
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, Any]:
    parser = argparse.ArgumentParser(prog="llm-api", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the embedded model (if used), the tools app, then the main app")
    serve.add_argument("--embedded-port", type=int, default=0)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("main", help="start the main app only").set_defaults(func=cmd_main)
    sub.add_parser("tools", help="start the tools app only").set_defaults(func=cmd_tools)
    emb = sub.add_parser("embedded", help="host the embedded model's OpenAI-compatible server")
    emb.add_argument("--host", default="127.0.0.1")
    emb.add_argument("--port", type=int, default=0)
    emb.set_defaults(func=cmd_embedded)
    return parser, sub


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.umask(UMASK)  # everything under DATA_DIR private, also what the servers it starts create
    parser, sub = build_parser()
    cli_admin.register(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
