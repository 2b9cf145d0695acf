"""Each tool's contract, written once: what the model fills, the limits, the endpoint.

A contract module (`tools_service/contracts/<tool>.py`) holds pydantic models and
`ToolContract`s only, so the graphs and the client can import it without pulling in the
tools app. Everything else is built from it:

- the tools app's route (`tools_service/routes/<tool>.py`) validates its body with the
  contract's request model and publishes `contract.spec()` at `/api/tools/list`;
- `ToolsClient.run_tool` takes the endpoint, method and context fields from it;
- `graphs/tools.py` builds the LangChain wrapper from it (name, description, `args_schema`).

`TOOLS` is the registry: one line per tool module name; the tools app loads
`tools_service.routes.<name>`, the graphs read `tools_service.contracts.<name>`.
"""

from __future__ import annotations

import importlib

from tools_service.contracts.base import ToolContract

__all__ = ["TOOLS", "ToolContract", "all_contracts", "contracts_of"]

# The registry: adding a tool is one line here (plus its contract and route modules).
TOOLS: tuple[str, ...] = ("python_coder", "websearch", "rag")


def contracts_of(tool: str) -> tuple[ToolContract, ...]:
    """The contracts published by `tools_service.contracts.<tool>` (RAG publishes two)."""
    module = importlib.import_module(f"{__name__}.{tool}")
    contracts: tuple[ToolContract, ...] = module.CONTRACTS
    return contracts


def all_contracts() -> list[ToolContract]:
    """Every registered tool's contracts, in registry order (read at call time)."""
    return [contract for tool in TOOLS for contract in contracts_of(tool)]
