"""The graphs package's import rules (issue 10): agents compose through the registry.

Read from the source with `ast`, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import graphs

AGENT_MODULES = {"chat", "react", "plan_execute", "ultrawork", "auto"}
PACKAGE = Path(graphs.__file__).parent


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_graphs_module_imports_the_main_app() -> None:
    for path in PACKAGE.glob("*.py"):
        offenders = {name for name in _imports(path.stem) if name == "app" or name.startswith("app.")}
        assert not offenders, f"graphs/{path.name} imports {offenders}"


def test_agents_import_no_other_agent_nor_the_registry() -> None:
    for agent in AGENT_MODULES:
        imported = {name.removeprefix("graphs.") for name in _imports(agent) if name.startswith("graphs.")}
        assert not imported & (AGENT_MODULES - {agent}), f"graphs/{agent}.py imports {imported & AGENT_MODULES}"
        assert "registry" not in imported, f"graphs/{agent}.py imports the registry"


def test_shared_helpers_import_no_agent() -> None:
    for helper in ("deps", "prompts", "text", "housekeeping", "runs", "decisions", "tools"):
        imported = {name.removeprefix("graphs.") for name in _imports(helper) if name.startswith("graphs.")}
        assert not imported & (AGENT_MODULES | {"registry", "studio"}), f"graphs/{helper}.py imports {imported}"
