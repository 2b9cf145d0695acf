"""Snapshots of each agent's Mermaid drawing: a change in a graph's shape shows up in review.

Update after an intended change with `UPDATE_SNAPSHOTS=1 pytest tests/graphs/test_drawings.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from langchain_core.tools import BaseTool

from graphs import AGENTS, build_all
from tests.fakes import ScriptedChatModel

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("name", AGENTS)
def test_mermaid_drawing_matches_snapshot(name: str, all_tools: list[BaseTool]) -> None:
    graph = build_all(llm=ScriptedChatModel(), tools=all_tools)[name]
    drawing = graph.get_graph(xray=1 if name == "auto" else 0).draw_mermaid()
    path = SNAPSHOTS / f"{name}.mmd"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(drawing, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}; create it with UPDATE_SNAPSHOTS=1"
    assert drawing == path.read_text(encoding="utf-8"), f"{name} changed shape; UPDATE_SNAPSHOTS=1 to accept"
