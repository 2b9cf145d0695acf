"""core/spool.py and the chat upload's claim: a failure at any point of a write leaves no
temp or partial file behind, and a finished write is the exact bytes under a final name."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from app.services.uploads import _claim_all
from core import spool

MB = 1024 * 1024


class _FailingDisk(io.BytesIO):
    """A source whose read fails after `good` chunks, as a vanishing spool file would."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__(data)
        self.left = good

    def read(self, size: int | None = -1) -> bytes:
        if self.left == 0:
            raise OSError(5, "Input/output error")
        self.left -= 1
        return super().read(size)


def _entries(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_stage_copies_in_chunks_to_a_hidden_temp_file(tmp_path: Path) -> None:
    data = os.urandom(3 * MB + 17)
    path, size = spool.stage(io.BytesIO(data), tmp_path / "dest", limit=4 * MB)
    assert size == len(data) and path.read_bytes() == data
    assert path.parent == tmp_path / "dest" and path.name.startswith(".") and path.name.endswith(".part")


def test_a_read_failure_mid_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="Input/output"):
        spool.stage(_FailingDisk(os.urandom(3 * MB), good=2), tmp_path, limit=4 * MB)
    assert _entries(tmp_path) == []


def test_a_file_larger_than_it_declared_is_stopped_at_the_limit(tmp_path: Path) -> None:
    with pytest.raises(spool.TooBig):
        spool.stage(io.BytesIO(b"x" * (2 * MB + 1)), tmp_path, limit=2 * MB)
    assert _entries(tmp_path) == []
    path, size = spool.stage(io.BytesIO(b"x" * (2 * MB)), tmp_path, limit=2 * MB)
    assert size == 2 * MB and _entries(tmp_path) == [path.name]


def test_staged_removes_every_temp_file_however_the_block_ends(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), spool.staged() as temps:
        temps.append(spool.stage(io.BytesIO(b"one"), tmp_path, limit=10)[0])
        temps.append(spool.stage(io.BytesIO(b"two"), tmp_path, limit=10)[0])
        raise RuntimeError("the parser refused the batch")
    assert _entries(tmp_path) == []


def test_claim_is_all_or_nothing_and_keeps_the_data_under_the_final_name(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"taken")
    with spool.staged() as temps:
        temps.extend(spool.stage(io.BytesIO(data), tmp_path, limit=10)[0] for data in (b"first", b"second"))
        claimed = _claim_all(tmp_path, [("a.csv", temps[0]), ("b.csv", temps[1])])
    assert [p.name for p in claimed] == ["a (1).csv", "b.csv"]
    assert _entries(tmp_path) == ["a (1).csv", "a.csv", "b.csv"], "the temp names are gone, the data is not"
    assert (tmp_path / "a (1).csv").read_bytes() == b"first" and (tmp_path / "a.csv").read_bytes() == b"taken"

    with spool.staged() as temps:
        temps.append(spool.stage(io.BytesIO(b"third"), tmp_path, limit=10)[0])
        gone = tmp_path / ".vanished.part"  # the second file's temp is gone: claiming it fails
        with pytest.raises(FileNotFoundError):
            _claim_all(tmp_path, [("c.csv", temps[0]), ("d.csv", gone)])
    assert _entries(tmp_path) == ["a (1).csv", "a.csv", "b.csv"], "c.csv, claimed first, was taken back"
