"""`llm-api`: start the platform (`serve`), one app (`main`, `tools`), or the embedded model.

`serve` loads the embedded model once for the machine, as its own process running
llama.cpp's HTTP server, and hands its address to the main app's workers; then it starts
the tools app, waits for its health check, starts the main app, and stops all of them
cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from app import cli_admin
from core.private import UMASK
from settings import Settings, get_settings

__all__ = ["main", "build_parser"]

log = logging.getLogger("llm_api.cli")


def _uvicorn(factory: str, host: str, port: int, workers: int) -> list[str]:
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
        "5",
    ]


def _main_app(settings: Settings) -> list[str]:
    return _uvicorn("app.main:create_app", settings.server_host, settings.server_port, settings.server_workers)


def _tools_app(settings: Settings) -> list[str]:
    return _uvicorn(
        "tools_service.main:create_app", settings.tools_host, settings.tools_port, settings.tools_server_workers
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


def cmd_serve(args: argparse.Namespace) -> int:
    from core.llm import choose_backend

    settings = get_settings().ensure_secrets()
    env = dict(os.environ)
    procs: list[subprocess.Popen[Any]] = []
    backend, reason = asyncio.run(choose_backend(settings))
    # Ctrl-C and `kill`/systemd stop shut down the same clean way. SIGINT is set explicitly:
    # a shell starts background jobs with it ignored, and Python keeps that.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if backend == "embedded" and not settings.embedded_server_url:
            port = args.embedded_port or _free_port()
            log.info("starting the embedded model (%s) on port %d", reason, port)
            proc = _spawn([sys.executable, "-m", "app.cli", "embedded", "--port", str(port)], env)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            _wait_http(url + "/v1/models", proc, "embedded model server")
            env["LLM_BACKEND"] = "embedded"
            env["EMBEDDED_SERVER_URL"] = url
        tools = _spawn(_tools_app(settings), env)
        procs.append(tools)
        _wait_http(f"http://{_client_host(settings.tools_host)}:{settings.tools_port}/health", tools, "tools app")
        main_app = _spawn(_main_app(settings), env)
        procs.append(main_app)
        base = f"http://{_client_host(settings.server_host)}:{settings.server_port}"
        _wait_http(base + "/health", main_app, "main app")
        log.info("LLM API is up: %s/v1 (OpenAI-compatible; log in at %s/api/auth/login)", base, base)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        failed = next(p for p in procs if p.poll() is not None)
        log.error("a process exited (status %s); stopping the others", failed.returncode)
        return 1
    except KeyboardInterrupt:
        log.info("stopping")
        return 0
    finally:
        _stop(procs)


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cmd_main(args: argparse.Namespace) -> int:
    return subprocess.call(_main_app(get_settings()))


def cmd_tools(args: argparse.Namespace) -> int:
    return subprocess.call(_tools_app(get_settings()))


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
