"""Memory of an upload through the main app's `/api/tools` proxy: the body must stream to
the tools app, not be held whole. Uploads `--mb` MB (multipart, 1 MB chunks) into a
session workspace on the main app's port and prints the peak Python heap (tracemalloc) of
this process, which runs the client, the main app and the tools app together: a buffered
body anywhere would show up as a peak of at least the upload's size.

    .venv/bin/python bench/tools_proxy_memory.py [--mb 60]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.tools_platform import serve_with_tools
from tests.scripted_llm import scripted_llm

BOUNDARY = "bench-boundary"


def multipart(megabytes: int) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    chunk = os.urandom(1 << 20)
    for _ in range(megabytes):
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, scripted_llm() as llm:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        with serve_with_tools(data_dir, llm, max_file_size_mb=args.mb + 10) as p:
            token = p.signup("bench")
            headers = {**p.headers(token), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
            tracemalloc.start()
            resp = httpx.post(
                p.url + "/api/tools/python_coder/files/bench", content=multipart(args.mb), headers=headers, timeout=600
            )
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    resp.raise_for_status()
    size = resp.json()["data"]["size"]
    print("| uploaded | stored | peak Python heap (client + both apps) |")
    print("|---|---|---|")
    print(f"| {args.mb} MB | {size / 2**20:.0f} MB | {peak / 2**20:.1f} MB |")


if __name__ == "__main__":
    main()
