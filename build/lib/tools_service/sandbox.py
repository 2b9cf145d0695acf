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
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core import metrics
from settings import Settings
from tools_service.launch import Launcher, Limits, Output, bwrap_help
from tools_service.workspace import WalkStats, Workspaces

__all__ = ["Limits", "RunResult", "Sandbox", "SANDBOX_FIX_HINT"]

log = logging.getLogger(__name__)

SANDBOX_FIX_HINT = (
    "install bubblewrap (`apt-get install bubblewrap`, or `make system-deps`) and allow unprivileged "
    "user namespaces (`sysctl kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04+ also "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or set PYTHON_SANDBOX=none on a "
    "trusted single-user machine"
)
_WATCH_INTERVAL = 0.2


@dataclass
class RunResult:
    stdout: str
    stderr: str
    exit_code: int
    duration_ms: int
    truncated: bool = False
    stopped: str | None = None  # why the service stopped the run: "timeout", "quota", "output"
    files: list[dict[str, object]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class Sandbox:
    """Runs code for one workspace at a time per session; `check()` says whether it can run at all."""

    def __init__(self, settings: Settings, workspaces: Workspaces) -> None:
        self.mode = settings.python_sandbox
        self.limits = Limits.from_settings(settings)
        self.workspaces = workspaces
        # The opt-out (`none`) runs as the service's own user: no namespaces to stage paths through.
        dedicated = os.geteuid() == 0 and self.mode == "bwrap"
        self.uid: int | None = settings.python_sandbox_uid if dedicated else None
        self.launch = Launcher(self.mode, self.limits, self.uid)
        self._fonts_task: asyncio.Task[None] | None = None
        self._cache_dir: Path | None = None
        self._checked: tuple[float, str | None] | None = None
        self._semaphore = asyncio.Semaphore(self.limits.concurrent)
        # Each user queues behind their own runs first, so one user's sleeping runs can hold
        # at most `per_user` of the shared slots and never starve another user's `print(1)`.
        self.per_user = max(1, min(settings.python_exec_max_concurrent_per_user, self.limits.concurrent))
        self._users: weakref.WeakValueDictionary[str, asyncio.Semaphore] = weakref.WeakValueDictionary()
        # Held weakly: a workspace's lock lives exactly as long as a run holds or awaits it.
        self._locks: weakref.WeakValueDictionary[Path, asyncio.Lock] = weakref.WeakValueDictionary()

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
            self.launch.bwrap = found
            self.launch.disable_userns = "--disable-userns" in await bwrap_help(found)
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
        elif self._fonts_task is None:
            self._fonts_task = asyncio.create_task(self._build_font_cache())
        self._checked = (now, reason)
        return reason

    async def _build_font_cache(self) -> None:
        """Build matplotlib's font list once, in the sandbox, and mount it read-only into every
        run's fresh `/tmp/.matplotlib`: otherwise each run that plots rebuilds it (~0.5 s)."""
        folder = Path(tempfile.mkdtemp(prefix="llm-api-mplcache-"))
        os.chmod(folder, 0o755)
        if self.uid is not None:
            os.chown(folder, self.uid, self.uid)
        code = "import os; os.environ['MPLCONFIGDIR'] = '/workspace'; import matplotlib.font_manager"
        try:
            result = await self._execute(folder, code, timeout=120)
            built = [folder / n for n in sorted(os.listdir(folder)) if n.startswith("fontlist-")]
            if result.exit_code != 0 or not built:
                log.warning("no matplotlib font cache for the sandbox: %s", result.stderr.strip()[-300:])
                shutil.rmtree(folder, ignore_errors=True)
                return
            os.chmod(built[0], 0o644)
            self.launch.fontlist = built[0]
            self._cache_dir = folder
        except (OSError, asyncio.CancelledError):
            shutil.rmtree(folder, ignore_errors=True)
            raise

    async def aclose(self) -> None:
        """`close()`, then wait for the font-cache run to be killed and reaped, so no subprocess
        outlives the app's event loop."""
        task = self._fonts_task
        self.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def close(self) -> None:
        if self._fonts_task is not None and not self._fonts_task.done():
            self._fonts_task.cancel()
        if self._cache_dir is not None:
            shutil.rmtree(self._cache_dir, ignore_errors=True)
            self._cache_dir = self.launch.fontlist = None
        self.launch.close()

    # -- running ----------------------------------------------------------------------

    async def run(
        self, workspace: Path, code: str, timeout: float | None = None, *, room: Callable[[], int] | None = None
    ) -> RunResult:
        """Run `code` in `workspace`: one run per workspace at a time, `per_user` per user (the
        workspace's parent folder is the user), a bounded number overall. `room` (blocking,
        called once the run has its slot) gives the bytes the workspace may hold under the
        user's total quota; the run's quota is the smaller of that and the workspace quota."""
        user_gate = self._users.setdefault(workspace.parent.name, asyncio.Semaphore(self.per_user))
        queued = time.perf_counter()
        async with self._locks.setdefault(workspace, asyncio.Lock()), user_gate, self._semaphore:
            metrics.SANDBOX_QUEUE_WAIT.observe(time.perf_counter() - queued)
            quota = self.limits.quota_bytes
            if room is not None:
                quota = min(quota, await asyncio.to_thread(room))
            result = await self._execute(workspace, code, timeout or self.limits.timeout, watch=True, quota=quota)
            metrics.SANDBOX_RUNS.labels(result.stopped or ("ok" if result.exit_code == 0 else "error")).inc()
            return result

    async def _execute(
        self, workspace: Path, code: str, timeout: float, watch: bool = False, quota: int | None = None
    ) -> RunResult:
        quota = self.limits.quota_bytes if quota is None else quota
        argv, binds = self.launch.command(workspace)
        started_ns = time.time_ns()
        t0 = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=str(workspace) if self.mode == "none" else "/",
                env=self.launch.env(workspace) if self.mode == "none" else {"PATH": "/usr/bin:/bin"},
                start_new_session=True,
                preexec_fn=self.launch.preexec(binds),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            why = str(exc)
            if isinstance(exc, subprocess.SubprocessError) and self.uid is not None:  # preexec_fn failed
                why = (
                    f"preparing the sandbox process failed (private mounts, switch to uid {self.uid}, rlimits): "
                    "a root tools app needs CAP_SYS_ADMIN for this; or run the tools app as an unprivileged user"
                )
            log.error("could not start the sandbox: %s", why)
            self._checked = None  # probe again on the next call
            return RunResult("", f"could not start the sandbox: {why}", -1, 0, stopped="error")
        stopped: list[str] = []

        def stop(reason: str) -> None:
            if not stopped:
                stopped.append(reason)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        cap = self.limits.max_output_bytes
        out, err = Output(cap, lambda: stop("output")), Output(cap, lambda: stop("output"))
        assert proc.stdin and proc.stdout and proc.stderr
        tasks = [
            asyncio.create_task(self._feed(proc.stdin, code)),
            asyncio.create_task(out.pump(proc.stdout)),
            asyncio.create_task(err.pump(proc.stderr)),
        ]
        if watch:
            tasks.append(asyncio.create_task(self._watch(workspace, lambda: stop("quota"), quota)))
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
        if watch:  # walks the workspace: off the event loop
            return await asyncio.to_thread(
                self._finish, workspace, started_ns, out, err, proc.returncode, t0, stopped, quota
            )
        return self._result(out, err, proc.returncode, t0, stopped)

    def _result(self, out: Output, err: Output, rc: int | None, t0: float, stopped: list[str]) -> RunResult:
        cap = self.limits.max_output_bytes
        return RunResult(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=rc if rc is not None else -9,
            duration_ms=int((time.perf_counter() - t0) * 1000),
            truncated=out.total > cap or err.total > cap,
            stopped=stopped[0] if stopped else None,
        )

    def _finish(
        self,
        workspace: Path,
        started_ns: int,
        out: Output,
        err: Output,
        rc: int | None,
        t0: float,
        stopped: list[str],
        quota: int,
    ) -> RunResult:
        """Enforce the quota after the run (the files this run touched go if it overflowed)."""
        removed: list[str] = []
        if self._over_quota(self.workspaces.usage(workspace), quota):
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

    def _over_quota(self, usage: WalkStats, quota: int) -> bool:
        return usage.total_bytes > quota or usage.files > self.limits.max_files

    async def _watch(self, workspace: Path, on_over: Callable[[], None], quota: int) -> None:
        while True:
            await asyncio.sleep(_WATCH_INTERVAL)
            usage = await asyncio.to_thread(self.workspaces.usage, workspace, self.limits.max_files + 1)
            if self._over_quota(usage, quota):
                on_over()
                return
