"""`llm-api serve` with several workers per app: each multi-worker app gets its own, freshly
emptied PROMETHEUS_MULTIPROC_DIR, so its /metrics adds up every worker (core/metrics.py);
one worker, or a directory the operator chose, is left alone."""

from __future__ import annotations

from pathlib import Path

from app.cli import _metrics_dir


def test_several_workers_get_a_fresh_directory_per_app(tmp_path: Path) -> None:
    stale = tmp_path / "prometheus-main"
    stale.mkdir()
    (stale / "counter_1234.db").write_bytes(b"from a previous run")
    env = {"PATH": "/usr/bin"}
    main = _metrics_dir(env, tmp_path, "main", 2)
    tools = _metrics_dir(env, tmp_path, "tools", 3)
    assert main["PROMETHEUS_MULTIPROC_DIR"] == str(stale) and list(stale.iterdir()) == []
    assert tools["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "prometheus-tools")
    assert main["PATH"] == "/usr/bin" and "PROMETHEUS_MULTIPROC_DIR" not in env


def test_one_worker_or_an_operator_directory_is_left_alone(tmp_path: Path) -> None:
    assert _metrics_dir({"PATH": "/usr/bin"}, tmp_path, "main", 1) == {"PATH": "/usr/bin"}
    chosen = {"PROMETHEUS_MULTIPROC_DIR": "/srv/metrics"}
    assert _metrics_dir(chosen, tmp_path, "main", 2) == chosen
    assert list(tmp_path.iterdir()) == []
