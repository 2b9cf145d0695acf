"""Several processes (workers, replicas on a shared DATA_DIR) logging to one `logs/<name>.log`
through the real `configure_logging`: with a tiny rotation size, every line arrives whole and
exactly once, and the number of files stays within the configured backups."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import sys
from multiprocessing.synchronize import Barrier
from pathlib import Path

PROCESSES = 4
LINES = 400
MAX_BYTES = 16_000  # a line is about 150 bytes: the file rotates every ~100 lines


def _write(index: int, data_dir: str, backups: int, barrier: Barrier) -> None:
    sys.stderr = open(os.devnull, "w")  # the stderr handler's copy is not under test
    from core.observability import configure_logging

    configure_logging(Path(data_dir), "main", max_bytes=MAX_BYTES, backups=backups)
    log = logging.getLogger("tests.log_files")
    barrier.wait()
    for seq in range(LINES):
        log.info("line %d of writer %d %s", seq, index, "x" * 40, extra={"fields": {"writer": index, "seq": seq}})


def _run_writers(data_dir: Path, backups: int) -> list[Path]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_write, args=(i, str(data_dir), backups, barrier)) for i in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES
    return sorted(p for p in (data_dir / "logs").iterdir() if not p.name.startswith("."))  # not the lock file


def _records(files: list[Path]) -> list[tuple[int, int]]:
    found = []
    for path in files:
        for line in path.read_text().splitlines():
            record = json.loads(line)  # an interleaved or torn line fails here
            if record["logger"] == "tests.log_files":
                assert record["msg"] == f"line {record['seq']} of writer {record['writer']} {'x' * 40}"
                found.append((record["writer"], record["seq"]))
    return found


def test_concurrent_writers_lose_no_line_across_rotations(tmp_path: Path) -> None:
    total = PROCESSES * LINES
    backups = 2 * total * 200 // MAX_BYTES  # room for everything: nothing may be dropped
    files = _run_writers(tmp_path, backups)
    assert len(files) > 3, "the test must cross several rotations"
    assert len(files) <= backups + 1
    found = _records(files)
    assert len(found) == total, "lines lost or duplicated"
    assert set(found) == {(w, s) for w in range(PROCESSES) for s in range(LINES)}


def test_the_number_of_files_stays_bounded(tmp_path: Path) -> None:
    files = _run_writers(tmp_path, backups=2)
    assert [p.name for p in files] == ["main.log", "main.log.1", "main.log.2"]
    found = _records(files)  # what is kept is whole and not repeated
    assert len(found) == len(set(found)) > 0
    assert max(found, key=lambda r: r[1])[1] == LINES - 1  # the newest lines are kept
