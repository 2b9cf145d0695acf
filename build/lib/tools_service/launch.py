"""How one sandboxed run is launched: the bwrap command line, its environment, and what the
forked child does before exec (staging mounts when root, the uid drop, the rlimits).

Kept apart from `tools_service.sandbox` (which runs, watches and reports) so the isolation
itself can be read in one place. See that module's docstring for why each piece exists.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from settings import Settings

__all__ = ["Limits", "Launcher", "Output", "bwrap_help"]

FLOOD_FACTOR = 16  # output beyond this many times the cap stops the run

_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child must not dlopen
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
    def quota_bytes(self) -> int:
        return self.quota_mb * 1024 * 1024

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


class Launcher:
    """Builds the command for one run; holds the per-process staging folder and font cache."""

    def __init__(self, mode: str, limits: Limits, uid: int | None) -> None:
        self.mode, self.limits, self.uid = mode, limits, uid
        self.python = sys.executable
        self.prefixes = [p for p in dict.fromkeys([sys.base_prefix, sys.prefix]) if not p.startswith("/usr/")]
        self.bwrap = "bwrap"
        self.disable_userns = False  # bubblewrap >= 0.8; set by `Sandbox.check`
        self.fontlist: Path | None = None
        self._staging: Path | None = None

    def close(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def env(self, workspace: Path) -> dict[str, str]:
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

    def staging_dir(self) -> Path:
        if self._staging is None:
            staging = Path(tempfile.mkdtemp(prefix="llm-api-sandbox-"))
            for i in range(len(self.prefixes) + 1):
                (staging / str(i)).mkdir()
            for path in (staging, *staging.iterdir()):
                path.chmod(0o755)
            self._staging = staging
        return self._staging

    def command(self, workspace: Path) -> tuple[list[str], list[tuple[bytes, bytes]]]:
        if self.mode == "none":
            return [self.python, "-s", "-B", "-"], []
        python = [self.python, "-s", "-B", "-c", _BOOT.format(nproc=self.limits.max_processes)]
        binds: list[tuple[bytes, bytes]] = []
        sources = [*self.prefixes, str(workspace)]
        if self.uid is not None:  # stage through a private mount namespace (see module docstring)
            staging = self.staging_dir()
            staged = [str(staging / str(i)) for i in range(len(sources))]
            binds = [(src.encode(), dst.encode()) for src, dst in zip(sources, staged, strict=True)]
            sources = staged
        # --as-pid-1: the program is pid 1 of its namespace, so its exit reaps every process in it; with
        # bwrap's own pid-1 monitor, that monitor outlives bwrap and lingers as a zombie of the host's
        # init (counted against RLIMIT_NPROC until init reaps it).
        argv = [self.bwrap, "--unshare-all", "--as-pid-1", "--clearenv", "--die-with-parent", "--new-session"]
        if self.disable_userns:  # no nested user namespaces: less kernel surface for the code
            argv += ["--unshare-user", "--disable-userns"]
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
        if self.fontlist is not None:
            argv += ["--ro-bind", str(self.fontlist), f"/tmp/.matplotlib/{self.fontlist.name}"]
        for src, dst in zip(sources[:-1], self.prefixes, strict=True):
            argv += ["--ro-bind", src, dst]
        argv += ["--bind", sources[-1], "/workspace", "--chdir", "/workspace"]
        for key, value in self.env(workspace).items():
            argv += ["--setenv", key, value]
        argv += ["--remount-ro", "/", "--", *python]
        return argv, binds

    def preexec(self, binds: list[tuple[bytes, bytes]]) -> Callable[[], None]:
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


class Output:
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
            if self.total > self.cap * FLOOD_FACTOR:
                self.on_flood()

    def text(self) -> str:
        return self.buf.decode("utf-8", errors="replace")


async def bwrap_help(bwrap: str) -> str:
    """`bwrap --help`, to use options that older bubblewraps (Ubuntu 22.04: 0.6) lack."""
    try:
        proc = await asyncio.create_subprocess_exec(
            bwrap, "--help", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except (OSError, TimeoutError):
        return ""
    return out.decode(errors="replace")
