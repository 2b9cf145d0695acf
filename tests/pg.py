"""A throwaway PostgreSQL cluster for tests (the Debian `postgresql` package's binaries)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.servers import free_port

__all__ = ["postgres_bin", "postgres_server", "fresh_database"]


def postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a `postgresql://` URL of a fresh cluster; PostgreSQL refuses to run as root,
    so as root the cluster runs as the `postgres` system user."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = tempfile.mkdtemp(prefix="llmapi-pg-")
    data = os.path.join(root, "data")
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    run(
        f"{bindir}/pg_ctl",
        "-D",
        data,
        "-w",
        "-l",
        os.path.join(root, "log"),
        "-o",
        f"-p {port} -k {root} -h 127.0.0.1 -c fsync=off",
        "start",
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(cluster: str) -> str:
    """A new, empty database in the cluster at `cluster` (one per test: no state leaks)."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(cluster, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.rsplit("/", 1)[0] + "/" + name
