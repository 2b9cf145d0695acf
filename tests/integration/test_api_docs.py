"""docs/api.md's examples, run as printed (bash + curl) against the app over real HTTP."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Platform

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the examples use curl")
def test_api_examples_work_as_printed(platform: Platform, tmp_path: Path) -> None:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    script = "\n".join(blocks).replace("http://localhost:10007", platform.url)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr + run.stdout
    out = run.stdout
    # The one error the examples show on purpose: Bob reading Alice's session.
    assert out.count('"error"') == 1 and '"code":"session_not_found"' in out
    assert '"username":"alice","role":"user"' in out
    assert any("cities.csv" in str(r["messages"][0]["content"]) for r in platform.llm.requests)
    # The Idempotency-Key example sends its request twice; the model answered it once.
    hellos = [r for r in platform.llm.requests if r["messages"][-1]["content"] == "Hello!"]
    assert len(hellos) == 1 and out.count('"x_session_id":"retry-demo"') == 2
    assert '"title":"Cities"' in out and '"cancelled":false' in out
    assert '"deleted":true' in out and '"sessions_deleted"' in out
    assert '"username":"ops","role":"admin"' in out and '"disabled":true' in out
