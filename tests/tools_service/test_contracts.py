"""One contract per tool: the route's body, the published spec, the client and the agents'
wrappers all come from `tools_service.contracts`, so a limit lives in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

from graphs.tools import build_tools
from tests.conftest import make_settings
from tools_service.client import ToolsClient
from tools_service.contracts import TOOLS, all_contracts
from tools_service.contracts.rag import MAX_TOP_K, RAG_QUERY
from tools_service.main import create_app, tool_modules


def _model_view(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of the arguments the model sees for `tool`."""
    schema = tool.tool_call_schema
    assert isinstance(schema, type) and issubclass(schema, BaseModel)
    return schema.model_json_schema()


def _without_null_default(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI leaves out `default: null`; nothing else differs."""
    return {k: v for k, v in schema.items() if not (k == "default" and v is None)}


def _openapi_body(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    """The JSON schema of the body the tools app validates at `POST path` (from its OpenAPI)."""
    ref = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


async def test_routes_and_wrappers_share_each_contracts_fields(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    openapi = app.openapi()
    async with ToolsClient("http://tools.invalid", "key") as client:
        wrappers = {t.name: t for t in build_tools(client)}
    for contract in all_contracts():
        wrapper = wrappers.pop(contract.name)
        model_view = _model_view(wrapper)
        assert wrapper.description == contract.description
        # The model sees the contract's arguments and nothing else: no identity, no session.
        assert set(model_view.get("properties", {})) == set(contract.args.model_fields)
        if contract.method == "GET":
            assert "get" in openapi["paths"][contract.path]
            continue
        body = _openapi_body(openapi, contract.path)
        for name, field_schema in model_view["properties"].items():
            # Same type, limits and description at the route as in the model's schema.
            assert body["properties"][name] == _without_null_default(field_schema), (contract.name, name)
        assert set(body["properties"]) - set(model_view["properties"]) >= set(contract.context)
        assert set(model_view.get("required", [])) <= set(body.get("required", []))
    assert wrappers == {}, "a wrapper without a contract"


async def test_a_limit_is_the_same_for_the_model_the_list_and_the_route(tmp_path: Path) -> None:
    """RAG's `top_k` bound (it once was 20 for the model, 50 in the list and 1000 at the route)."""
    app = create_app(make_settings(tmp_path))
    settings = app.state.settings
    async with ToolsClient("http://tools.invalid", "key") as client:
        wrapper = next(t for t in build_tools(client) if t.name == "rag_query")
    top_k = _model_view(wrapper)["properties"]["top_k"]["anyOf"][0]
    assert top_k["maximum"] == MAX_TOP_K
    with pytest.raises(ValidationError):
        wrapper.args_schema.model_validate({"collection": "kb", "query": "q", "top_k": MAX_TOP_K + 1})  # type: ignore[union-attr]

    headers = {"X-API-Key": settings.tools_key, "X-User-Id": "alice"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tools", headers=headers) as http,
    ):
        listed = {t["name"]: t for t in (await http.get("/api/tools/list")).json()["tools"]}
        assert listed["rag_query"]["parameters"] == RAG_QUERY.parameters()
        assert listed["rag_query"]["parameters"]["properties"]["top_k"]["anyOf"][0]["maximum"] == MAX_TOP_K
        too_many = await http.post(RAG_QUERY.path, json={"collection": "kb", "query": "q", "top_k": MAX_TOP_K + 1})
        assert too_many.status_code == 422 and too_many.json()["error"]["param"] == "top_k"


def test_the_registry_names_each_route_module() -> None:
    assert tool_modules() == [f"tools_service.routes.{name}" for name in TOOLS]
