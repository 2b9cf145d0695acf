"""The README's first-screen examples (curl and the openai SDK) work as printed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Platform

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the example uses curl")
def test_readme_curl_example(platform: Platform, tmp_path: Path) -> None:
    script = next(b for b in _blocks("bash") if "curl" in b).replace("http://127.0.0.1:10007", platform.url)
    platform.llm.push("Hi from curl.")
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert '"content":"Hi from curl."' in run.stdout


def test_readme_openai_sdk_example(platform: Platform, tmp_path: Path) -> None:
    code = next(b for b in _blocks("python") if "from openai import OpenAI" in b)
    platform.llm.push("Hi from the SDK.")
    run = subprocess.run(
        [sys.executable, "-c", code.replace("http://127.0.0.1:10007", platform.url)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Hi from the SDK."
