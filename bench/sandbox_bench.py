"""What the python_coder sandbox costs: start-up overhead and throughput.

1. Start-up: `python -c pass` run plainly (same interpreter, same flags, as a subprocess of
   an asyncio loop) vs the same program through our sandbox engine (bubblewrap, the uid drop,
   rlimits, the mount staging when root, the workspace quota check). Target: under 60 ms
   added at p50.
2. Throughput: runs per second with 4 sessions running small programs concurrently.

    python bench/sandbox_bench.py [--runs 60] [--seconds 5] [--sessions 4]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from settings import Settings  # noqa: E402
from tools_service.sandbox import Sandbox  # noqa: E402
from tools_service.workspace import Workspaces  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def plain_run() -> float:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-s", "-B", "-c", "pass", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    await proc.communicate()
    assert proc.returncode == 0
    return (time.perf_counter() - t0) * 1000


async def sandbox_run(sandbox: Sandbox, workspace: Path, code: str = "pass") -> float:
    t0 = time.perf_counter()
    result = await sandbox.run(workspace, code, 30)
    assert result.exit_code == 0, result.stderr
    return (time.perf_counter() - t0) * 1000


async def throughput(sandbox: Sandbox, workspaces: list[Path], seconds: float) -> tuple[int, float]:
    deadline = time.perf_counter() + seconds
    counts = [0] * len(workspaces)

    async def session(i: int) -> None:
        while time.perf_counter() < deadline:
            await sandbox_run(sandbox, workspaces[i], "print(sum(range(10_000)))")
            counts[i] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(session(i) for i in range(len(workspaces))))
    return sum(counts), time.perf_counter() - t0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sessions", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), python_exec_max_concurrent=args.sessions)  # type: ignore[call-arg]
        workspaces = Workspaces(settings.data_dir, settings.python_sandbox_uid if os.geteuid() == 0 else None)
        sandbox = Sandbox(settings, workspaces)
        if reason := await sandbox.check():
            sys.stdout.write(f"sandbox unavailable: {reason}\n")
            raise SystemExit(1)
        dirs = [workspaces.ensure("bench", f"s{i}") for i in range(args.sessions)]
        for _ in range(5):  # warm-up: page cache, staging folder
            await plain_run()
            await sandbox_run(sandbox, dirs[0])
        plain, boxed = [], []
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            plain.append(await plain_run())
            boxed.append(await sandbox_run(sandbox, dirs[0]))
        runs, elapsed = await throughput(sandbox, dirs, args.seconds)
        sandbox.close()
    p50_added = statistics.median(boxed) - statistics.median(plain)
    out = [
        f"python_coder sandbox benchmark: {args.runs} runs each, {os.cpu_count()} CPUs, uid {os.geteuid()}",
        f"{'program: python -c pass':<32}{'p50 ms':>9}{'p95 ms':>9}",
        f"{'plain subprocess':<32}{statistics.median(plain):>9.1f}{pct(plain, 0.95):>9.1f}",
        f"{'sandbox engine (bwrap)':<32}{statistics.median(boxed):>9.1f}{pct(boxed, 0.95):>9.1f}",
        f"{'added by the sandbox':<32}{p50_added:>9.1f}{pct(boxed, 0.95) - pct(plain, 0.95):>9.1f}"
        f"   (target < 60 ms at p50: {'met' if p50_added < 60 else 'MISSED'})",
        f"throughput, {args.sessions} concurrent sessions: {runs} runs in {elapsed:.1f} s"
        f" = {runs / elapsed:.1f} runs/s",
    ]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
