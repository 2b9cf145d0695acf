"""docs/adding-a-tool.md is true: its contract and route modules, plus its one registry line,
give a tool the tools app serves and lists and every agent can call; nothing else is edited."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain.tools import ToolRuntime
from langchain_core.tools import StructuredTool

import tools_service.contracts
from graphs.deps import AgentContext
from graphs.tools import build_tools
from tests.conftest import make_settings
from tools_service.client import ToolsClient
from tools_service.main import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "adding-a-tool.md"


def _doc_modules() -> dict[str, str]:
    """The doc's Python blocks that open with `# <path>.py`, by module name."""
    blocks = re.findall(r"```python\n# (\S+\.py)\n(.*?)```", DOC.read_text(), flags=re.S)
    return {path.removesuffix(".py").replace("/", "."): code for path, code in blocks}


def _registry_line() -> tuple[str, ...]:
    line = re.search(r"^TOOLS: tuple\[str, \.\.\.\] = (\(.*\))$", DOC.read_text(), flags=re.M)
    assert line is not None
    names: tuple[str, ...] = ast.literal_eval(line.group(1))
    return names


@pytest.fixture
def unit_convert_added(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply the doc: load its two modules as if written to disk, and its registry line."""
    modules = _doc_modules()
    assert list(modules) == ["tools_service.contracts.unit_convert", "tools_service.routes.unit_convert"]
    for name, code in modules.items():  # the contract first: the route imports it
        module = types.ModuleType(name)
        module.__file__ = name.replace(".", "/") + ".py"
        monkeypatch.setitem(sys.modules, name, module)
        exec(compile(code, module.__file__, "exec"), module.__dict__)
    registry = _registry_line()
    assert registry[:-1] == tools_service.contracts.TOOLS and registry[-1] == "unit_convert"
    monkeypatch.setattr(tools_service.contracts, "TOOLS", registry)


def _runtime(user: str) -> ToolRuntime:
    context: Any = AgentContext(user_id=user)
    return ToolRuntime(
        state={}, context=context, config={}, stream_writer=lambda _: None, tool_call_id="c1", store=None
    )


@pytest.mark.usefixtures("unit_convert_added")
async def test_the_documented_tool_works_end_to_end(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with ToolsClient("http://tools", settings.tools_key, transport=transport) as client:
            listed = {t["name"]: t for t in await client.list_tools()}
            assert set(listed["unit_convert"]["parameters"]["properties"]) == {"value", "from_unit", "to_unit"}
            tool = next(t for t in build_tools(client) if t.name == "unit_convert")
            assert isinstance(tool, StructuredTool) and tool.coroutine is not None
            assert set(tool.args) == {"value", "from_unit", "to_unit"}
            answer = await tool.coroutine(runtime=_runtime("alice"), value=10, from_unit="km", to_unit="mi")
            assert answer == "10 km = 6.214 mi"
            failed = await tool.coroutine(runtime=_runtime("alice"), value=1, from_unit="km", to_unit="kg")
            assert failed == "Error: cannot convert km to kg; known: km, mi, kg, lb"
            rejected = await client.call(
                "alice", "/api/tools/unit_convert", {"value": 1, "from_unit": "", "to_unit": "mi"}
            )
            assert rejected.success is False and rejected.metadata["status"] == 422
