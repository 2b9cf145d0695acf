"""`notebooks/quickstart.ipynb` runs top to bottom, so it never rots.

The notebook resolves its model from the settings like a user's would; here the settings
point at a scripted OpenAI-compatible server (the real provider path, tool calls included),
and the server it calls with the `openai` SDK is the real app, on a free port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from app.main import create_app
from tests.conftest import make_settings
from tests.scripted_llm import Reply, ScriptedLLM, scripted_llm, tool_call
from tests.servers import serve_app

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with scripted_llm() as server:
        yield server


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def test_quickstart_notebook_runs(llm: ScriptedLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    llm.push(
        Reply(tool_calls=[tool_call("multiply", {"a": 12.5, "b": 8})]),
        "12.5 times 8 is 100.",
        Reply(tool_calls=[tool_call("multiply", {"a": 100, "b": 0.25})]),
        "That is 25.",
    )  # then the script is empty and the server's calls are echoed
    settings = make_settings(tmp_path / "server", openai_base_url=llm.url)
    with serve_app(create_app(settings)) as url:
        for key, value in {
            "LLM_BACKEND": "openai",
            "OPENAI_BASE_URL": llm.url,
            "OPENAI_API_KEY": "test",
            "DATA_DIR": str(tmp_path / "notebook"),
            "LLM_API_URL": url,
        }.items():
            monkeypatch.setenv(key, value)  # the kernel inherits this environment
        nb = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()

    outputs = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "backend: openai" in outputs
    assert "12.5 times 8 is 100." in outputs  # the agent ran the tool and answered
    assert " tool: 100.0" in outputs and "next node: (done)" in outputs  # state inspected
    assert "step -1" in outputs  # checkpoints listed, down to the input checkpoint
    assert "progress: Calling multiply(" in outputs and "answer: That is 25." in outputs
    assert "answer: echo: What is 6 times 7?" in outputs  # through the server, with the openai SDK
    assert "echo: Say hello." in outputs  # streamed
    assert [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool"] == ["100.0"]
