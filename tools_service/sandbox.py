"""The python_coder sandbox: model-written code in bubblewrap, as an unprivileged uid, with limits.

Why each piece is there:
- bubblewrap (`--unshare-all --clearenv`): no network at all (a fresh network namespace, so
  not even the host's loopback services), its own pid namespace and `/proc` (no other
  process's `environ`), read-only system and interpreter mounts, only the session workspace
  writable, a private size-limited `/tmp`, and nothing of `DATA_DIR` but that workspace.
- an unprivileged uid (`PYTHON_SANDBOX_UID`, 65534): RLIMIT_NPROC does not bind root, and CI
  runs as root. When the service is root, the child process first makes a private mount
  namespace and bind-mounts the interpreter and the workspace onto a world-readable staging
  folder (they may live under a 0700 directory such as `/root/.pyenv`), then drops to the uid,
  applies the rlimits and execs bwrap, which then runs unprivileged with user namespaces.
- rlimits: address space, CPU seconds, file size, open files and processes; a wall-clock
  timeout kills the whole process group (and with it bwrap's pid namespace); stdout/stderr
  are read incrementally and capped; a watchdog stops a run whose workspace outgrows its quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from settings import Settings
from tools_service.workspace import Workspaces

__all__ = ["Limits", "RunResult", "Sandbox", "SANDBOX_FIX_HINT"]

log = logging.getLogger(__name__)

SANDBOX_FIX_HINT = (
    "install bubblewrap (`apt-get install bubblewrap`, or `make system-deps`) and allow unprivileged "
    "user namespaces (`sysctl kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04+ also "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or set PYTHON_SANDBOX=none on a "
    "trusted single-user machine"
)
_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child must not dlopen
_WATCH_INTERVAL = 0.2
# Runs first inside the sandbox, then the code from stdin. Inside bwrap's user namespace,
# RLIMIT_NPROC counts this sandbox's processes only (the kernel counts per user namespace and
# checks each level up), so a fork bomb in one session cannot starve the others' runs.
_BOOT = (
    "import resource as _r, sys as _s\n"
    "_r.setrlimit(_r.RLIMIT_NPROC, ({nproc}, {nproc}))\n"
    "_c = compile(_s.stdin.read(), '<stdin>', 'exec')\n"
    "del _r, _s\n"
    "exec(_c)\n"
)
_FLOOD_FACTOR = 16  # output beyond this many times the cap stops the run


@dataclass(frozen=True)
class Limits:
    timeout: float
    memory_mb: int
    cpu_seconds: int
    max_file_mb: int
    quota_mb: int
    max_files: int
    max_processes: int
    max_output_bytes: int
    tmp_mb: int
    concurrent: int

    @property
    def all_processes(self) -> int:
        """The sandbox uid's process bound across concurrent runs (each also has bwrap itself)."""
        return (self.max_processes + 2) * self.concurrent

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            timeout=s.python_exec_timeout,
            memory_mb=s.python_exec_memory_mb,
            cpu_seconds=s.python_exec_cpu_seconds,
            max_file_mb=s.python_exec_max_file_mb,
            quota_mb=s.python_exec_workspace_quota_mb,
            max_files=s.python_exec_max_files,
            max_processes=s.python_exec_max_processes,
            max_output_bytes=s.python_exec_max_output_bytes,
            tmp_mb=s.python_exec_tmp_mb,
            concurrent=max(1, s.python_exec_max_concurrent),
        )


@dataclass
class RunResult:
    stdout: str
    stderr: str
    exit_code: int
    duration_ms: int
    truncated: bool = False
    timed_out: bool = False
    stopped: str | None = None  # why the service stopped the run: "timeout", "quota", "output"
    files: list[dict[str, object]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class _Output:
    """Drains one pipe, keeping at most `cap` bytes; a flood far past the cap calls `on_flood`."""

    def __init__(self, cap: int, on_flood: Callable[[], None]) -> None:
        self.cap, self.on_flood = cap, on_flood
        self.buf = bytearray()
        self.total = 0

    async def pump(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self.total += len(chunk)
            if len(self.buf) < self.cap:
                self.buf += chunk[: self.cap - len(self.buf)]
            if self.total > self.cap * _FLOOD_FACTOR:
                self.on_flood()

    def text(self) -> str:
        return self.buf.decode("utf-8", errors="replace")


class Sandbox:
    """Runs code for one workspace at a time per session; `check()` says whether it can run at all."""

    def __init__(self, settings: Settings, workspaces: Workspaces) -> None:
        self.mode = settings.python_sandbox
        self.limits = Limits.from_settings(settings)
        self.workspaces = workspaces
        # The opt-out (`none`) runs as the service's own user: no namespaces to stage paths through.
        dedicated = os.geteuid() == 0 and self.mode == "bwrap"
        self.uid: int | None = settings.python_sandbox_uid if dedicated else None
        self.python = sys.executable
        self.prefixes = [p for p in dict.fromkeys([sys.base_prefix, sys.prefix]) if not p.startswith("/usr/")]
        self._staging: Path | None = None
        self._bwrap = "bwrap"
        self._checked: tuple[float, str | None] | None = None
        self._semaphore = asyncio.Semaphore(max(1, settings.python_exec_max_concurrent))
        self._locks: dict[Path, asyncio.Lock] = {}

    # -- availability ------------------------------------------------------------------

    async def check(self) -> str | None:
        """None when code can run, else why not (cached; a failure is re-probed after 10 s)."""
        if self.mode == "none":
            return None
        now = time.monotonic()
        if self._checked and (self._checked[1] is None or now - self._checked[0] < 10):
            return self._checked[1]
        reason: str | None
        if (found := shutil.which("bwrap")) is None:
            reason = "bubblewrap (bwrap) is not installed"
        else:
            self._bwrap = found
            probe = Path(tempfile.mkdtemp(prefix="llm-api-probe-"))
            try:
                if self.uid is not None:
                    os.chown(probe, self.uid, self.uid)
                result = await self._execute(probe, "import sys; print('ok')", timeout=30)
                ok = result.exit_code == 0 and result.stdout.strip() == "ok"
                reason = None if ok else f"bubblewrap could not start: {result.stderr.strip()[:300] or 'no output'}"
            except OSError as exc:
                reason = f"bubblewrap could not start: {exc}"
            finally:
                shutil.rmtree(probe, ignore_errors=True)
        if reason:
            log.error("python sandbox unavailable: %s; fix: %s", reason, SANDBOX_FIX_HINT)
        self._checked = (now, reason)
        return reason

    def close(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    # -- running ----------------------------------------------------------------------

    async def run(self, workspace: Path, code: str, timeout: float | None = None) -> RunResult:
        """Run `code` in `workspace`: one run per workspace at a time, a bounded number overall."""
        lock = self._locks.setdefault(workspace, asyncio.Lock())
        async with lock, self._semaphore:
            result = await self._execute(workspace, code, timeout or self.limits.timeout, watch=True)
        if not lock.locked():
            self._locks.pop(workspace, None)
        return result

    async def _execute(self, workspace: Path, code: str, timeout: float, watch: bool = False) -> RunResult:
        argv, binds = self._command(workspace)
        started_ns = time.time_ns()
        t0 = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=str(workspace) if self.mode == "none" else "/",
                env=self._env(workspace) if self.mode == "none" else {"PATH": "/usr/bin:/bin"},
                start_new_session=True,
                preexec_fn=self._preexec(binds),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("could not start the sandbox: %s", exc)
            self._checked = None  # probe again on the next call
            return RunResult("", f"could not start the sandbox: {exc}", -1, 0, stopped="error")
        stopped: list[str] = []

        def stop(reason: str) -> None:
            if not stopped:
                stopped.append(reason)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        cap = self.limits.max_output_bytes
        out, err = _Output(cap, lambda: stop("output")), _Output(cap, lambda: stop("output"))
        assert proc.stdin and proc.stdout and proc.stderr
        tasks = [
            asyncio.create_task(self._feed(proc.stdin, code)),
            asyncio.create_task(out.pump(proc.stdout)),
            asyncio.create_task(err.pump(proc.stderr)),
        ]
        if watch:
            tasks.append(asyncio.create_task(self._watch(workspace, lambda: stop("quota"))))
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            stop("timeout")
            await proc.wait()
        finally:
            if proc.returncode is None:  # cancelled (client went away): never leave it running
                stop("cancelled")
            for task in tasks[3:]:
                task.cancel()
            await asyncio.wait(tasks[:3], timeout=5)
            for task in tasks:
                task.cancel()
        if watch:
            return self._finish(workspace, started_ns, out, err, proc.returncode, t0, stopped)
        return self._result(out, err, proc.returncode, t0, stopped)

    def _result(self, out: _Output, err: _Output, rc: int | None, t0: float, stopped: list[str]) -> RunResult:
        cap = self.limits.max_output_bytes
        return RunResult(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=rc if rc is not None else -9,
            duration_ms=int((time.perf_counter() - t0) * 1000),
            truncated=out.total > cap or err.total > cap,
            timed_out=stopped[:1] == ["timeout"],
            stopped=stopped[0] if stopped else None,
        )

    def _finish(
        self,
        workspace: Path,
        started_ns: int,
        out: _Output,
        err: _Output,
        rc: int | None,
        t0: float,
        stopped: list[str],
    ) -> RunResult:
        """Enforce the quota after the run (the files this run touched go if it overflowed)."""
        quota = self.limits.quota_mb * 1024 * 1024
        usage = self.workspaces.usage(workspace)
        removed: list[str] = []
        if usage.total_bytes > quota or usage.files > self.limits.max_files:
            removed = self.workspaces.remove_changed(workspace, started_ns)
            if not stopped:
                stopped.append("quota")
        result = self._result(out, err, rc, t0, stopped)
        result.files = self.workspaces.list_files(workspace, since_ns=started_ns)
        result.removed = removed
        return result

    @staticmethod
    async def _feed(stdin: asyncio.StreamWriter, code: str) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(code.encode("utf-8"))
            await stdin.drain()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.close()

    async def _watch(self, workspace: Path, on_over: Callable[[], None]) -> None:
        quota = self.limits.quota_mb * 1024 * 1024
        while True:
            await asyncio.sleep(_WATCH_INTERVAL)
            usage = await asyncio.to_thread(self.workspaces.usage, workspace, self.limits.max_files + 1)
            if usage.total_bytes > quota or usage.files > self.limits.max_files:
                on_over()
                return

    # -- the command ------------------------------------------------------------------

    def _env(self, workspace: Path) -> dict[str, str]:
        home = str(workspace) if self.mode == "none" else "/tmp"
        venv_bin = str(Path(sys.prefix) / "bin")
        return {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{home}/.matplotlib" if self.mode == "none" else "/tmp/.matplotlib",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    def _staging_dir(self) -> Path:
        if self._staging is None:
            staging = Path(tempfile.mkdtemp(prefix="llm-api-sandbox-"))
            for i in range(len(self.prefixes) + 1):
                (staging / str(i)).mkdir()
            for path in (staging, *staging.iterdir()):
                path.chmod(0o755)
            self._staging = staging
        return self._staging

    def _command(self, workspace: Path) -> tuple[list[str], list[tuple[bytes, bytes]]]:
        if self.mode == "none":
            return [self.python, "-s", "-B", "-"], []
        python = [self.python, "-s", "-B", "-c", _BOOT.format(nproc=self.limits.max_processes)]
        binds: list[tuple[bytes, bytes]] = []
        sources = [*self.prefixes, str(workspace)]
        if self.uid is not None:  # stage through a private mount namespace (see module docstring)
            staging = self._staging_dir()
            staged = [str(staging / str(i)) for i in range(len(sources))]
            binds = [(src.encode(), dst.encode()) for src, dst in zip(sources, staged, strict=True)]
            sources = staged
        # --as-pid-1: the program is pid 1 of its namespace, so its exit reaps every process in it; with
        # bwrap's own pid-1 monitor, that monitor outlives bwrap and lingers as a zombie of the host's
        # init (counted against RLIMIT_NPROC until init reaps it).
        argv = [self._bwrap, "--unshare-all", "--as-pid-1", "--clearenv", "--die-with-parent", "--new-session"]
        argv += ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        for extra in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/fonts"):
            argv += ["--ro-bind-try", extra, extra]
        tmp_size = str(self.limits.tmp_mb * 1024 * 1024)  # tmpfs is RAM: bounded, unlike RLIMIT_AS
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", tmp_size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
        argv += ["--size", tmp_size, "--tmpfs", "/tmp"]
        for src, dst in zip(sources[:-1], self.prefixes, strict=True):
            argv += ["--ro-bind", src, dst]
        argv += ["--bind", sources[-1], "/workspace", "--chdir", "/workspace"]
        for key, value in self._env(workspace).items():
            argv += ["--setenv", key, value]
        argv += ["--remount-ro", "/", "--", *python]
        return argv, binds

    def _preexec(self, binds: list[tuple[bytes, bytes]]) -> Callable[[], None]:
        """Runs in the forked child before exec: staging mounts (root only), uid drop, rlimits."""
        uid, limits = self.uid, self.limits

        def setup() -> None:
            if binds:
                if _libc.unshare(_CLONE_NEWNS) != 0:
                    raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
                if _libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
                    raise OSError(ctypes.get_errno(), "making / private failed")
                for src, dst in binds:
                    if _libc.mount(src, dst, None, _MS_BIND | _MS_REC, None) != 0:
                        raise OSError(ctypes.get_errno(), "bind mount failed")
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            mb = 1024 * 1024
            file_cap = min(limits.max_file_mb, limits.quota_mb) * mb
            for res, value in (
                (resource.RLIMIT_AS, limits.memory_mb * mb),
                (resource.RLIMIT_CPU, limits.cpu_seconds),
                (resource.RLIMIT_FSIZE, file_cap),
                (resource.RLIMIT_NOFILE, 256),
                (resource.RLIMIT_CORE, 0),
                # NPROC counts every process of the uid, so out here it bounds all sandboxes together
                # (the dedicated uid only); `_BOOT` sets the per-sandbox limit inside.
                *([(resource.RLIMIT_NPROC, limits.all_processes)] if uid is not None else []),
            ):
                resource.setrlimit(res, (value, value))

        return setup
