"""Both apps' OpenAPI documents: every operation has its own id, as OpenAPI requires and as
generated clients (openapi-generator, schemathesis) assume."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import make_settings
from tools_service.main import create_app as create_tools_app


@pytest.mark.parametrize("factory", [create_app, create_tools_app], ids=["main", "tools"])
def test_every_operation_id_is_unique(tmp_path: Path, factory: Callable[..., FastAPI]) -> None:
    app = factory(make_settings(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = app.openapi()
    ids = Counter(op["operationId"] for item in spec["paths"].values() for op in item.values() if "operationId" in op)
    assert ids, "no operations"
    assert [i for i, n in ids.items() if n > 1] == []
    assert not [w for w in caught if "Duplicate Operation ID" in str(w.message)]


def test_the_tools_proxy_documents_each_method(tmp_path: Path) -> None:
    spec = create_app(make_settings(tmp_path)).openapi()
    item = spec["paths"]["/api/tools/{path}"]
    assert {m: op["operationId"] for m, op in item.items()} == {
        "get": "tools_proxy_get",
        "post": "tools_proxy_post",
        "delete": "tools_proxy_delete",
    }
