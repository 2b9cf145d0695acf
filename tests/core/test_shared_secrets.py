"""Secrets generated on a shared DATA_DIR: workers and replicas starting at once on an empty
directory all end up with the same JWT secret and tools key, so a token one signs is accepted
by every other (settings.load_or_create_secrets)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.security import create_access_token, decode_access_token
from settings import SECRETS_FILE, Settings, load_or_create_secrets

PROCESSES = 6
ROUNDS = 8  # each round: a fresh empty DATA_DIR, every process starting on it at once


def _start(index: int, dirs: list[str], barrier: Barrier, out: Any, verdicts: Any, inbox: Any) -> None:
    """One 'worker': for each empty DATA_DIR, start at the barrier, load (or create) the
    secrets, sign a token; then check the token another worker signed, with its own secret."""
    for key in ("JWT_SECRET_KEY", "TOOLS_API_KEY"):
        os.environ.pop(key, None)
    for round_, data_dir in enumerate(dirs):
        barrier.wait()
        try:
            settings = Settings(_env_file=None, data_dir=Path(data_dir)).ensure_secrets()  # type: ignore[call-arg]
        except Exception as exc:  # reported, so the test fails at once with the reason
            out.put((round_, index, f"failed: {exc!r}", "", ""))
            return
        token = create_access_token(f"worker-{index}", settings.jwt_secret, hours=1)
        out.put((round_, index, settings.jwt_secret, settings.tools_key, token))
        other = inbox.get(timeout=120)
        if other is None:  # the test failed: stop
            return
        try:
            verdict = decode_access_token(other, settings.jwt_secret)["sub"]
        except Exception as exc:
            verdict = f"refused: {exc}"
        verdicts.put((round_, index, verdict))


def test_processes_starting_at_once_share_one_secret(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    dirs = [str(tmp_path / f"round{r}" / "data") for r in range(ROUNDS)]
    barrier = ctx.Barrier(PROCESSES)
    out, checked = ctx.Queue(), ctx.Queue()  # two queues: puts from several processes arrive in any order
    inboxes = [ctx.Queue() for _ in range(PROCESSES)]
    procs = [ctx.Process(target=_start, args=(i, dirs, barrier, out, checked, inboxes[i])) for i in range(PROCESSES)]
    for proc in procs:
        proc.start()
    try:
        for round_, data_dir in enumerate(dirs):
            loaded = [out.get(timeout=120) for _ in range(PROCESSES)]
            assert {r for r, *_ in loaded} == {round_}
            stored = json.loads((Path(data_dir) / SECRETS_FILE).read_text())
            assert {jwt for _, _, jwt, _, _ in loaded} == {stored["jwt_secret_key"]}, f"round {round_}"
            assert {key for _, _, _, key, _ in loaded} == {stored["tools_api_key"]}, f"round {round_}"
            tokens = {index: token for _, index, _, _, token in loaded}
            for index in range(PROCESSES):  # each checks the token of the next one
                inboxes[index].put(tokens[(index + 1) % PROCESSES])
            verdicts = {index: verdict for _, index, verdict in (checked.get(timeout=120) for _ in range(PROCESSES))}
            assert verdicts == {i: f"worker-{(i + 1) % PROCESSES}" for i in range(PROCESSES)}
            assert sorted(p.name for p in Path(data_dir).iterdir()) == [SECRETS_FILE]  # no temp file left
    finally:
        barrier.abort()  # on a failure, nobody waits for the next round
        for inbox in inboxes:
            inbox.put(None)
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES


def test_an_existing_file_wins_and_stays_private(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path / SECRETS_FILE)
    assert stat.S_IMODE((tmp_path / SECRETS_FILE).stat().st_mode) == 0o600
    assert len(first["jwt_secret_key"]) >= 32 and first["jwt_secret_key"] != first["tools_api_key"]
    assert load_or_create_secrets(tmp_path / SECRETS_FILE) == first


def test_configured_secrets_are_kept_and_only_the_missing_one_is_loaded(tmp_path: Path) -> None:
    given = "k" * 40 + "-configured-tools-key"
    settings = Settings(_env_file=None, data_dir=tmp_path, tools_api_key=SecretStr(given)).ensure_secrets()  # type: ignore[call-arg]
    stored = json.loads((tmp_path / SECRETS_FILE).read_text())
    assert settings.tools_key == given
    assert settings.jwt_secret == stored["jwt_secret_key"]


def test_a_damaged_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    """A file lacking a key is not silently replaced: that would void every issued token."""
    path = tmp_path / SECRETS_FILE
    path.write_text(json.dumps({"jwt_secret_key": "x" * 48}))
    with pytest.raises(RuntimeError, match="tools_api_key"):
        load_or_create_secrets(path)
    assert json.loads(path.read_text()) == {"jwt_secret_key": "x" * 48}
