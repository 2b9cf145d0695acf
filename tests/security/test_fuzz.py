"""Schemathesis against both apps' OpenAPI schemas, authenticated (issue 11, fuzzing).

Live servers (the main app with a scripted LLM, the real tools app), every operation in
each schema, a bounded number of generated requests per operation (FUZZ_EXAMPLES, 5 by
default; raise it locally for a deeper run). Checks: no 5xx, and every response that the
schema documents matches its declared schema. Examples are derandomized so CI is stable.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.integration.conftest import Platform

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, response_schema_conformance]
# Operations whose success would end the run's own login or the fuzz's subject.
SKIP = {("DELETE", "/api/chat/sessions")}


def _fuzz(base_url: str, headers: dict[str, str]) -> tuple[int, int, list[str]]:
    raw: dict[str, Any] = httpx.get(base_url + "/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    operations = 0
    calls = [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        operations += 1

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            calls[0] += 1
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=120)

        try:
            run()
        except Exception as exc:  # collect them all: one report names every broken operation
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    return operations, calls[0], failures


@pytest.mark.timeout(1800)
def test_fuzz_both_apps(platform_with_tools: Platform) -> None:
    p = platform_with_tools
    main_ops, main_calls, main_failures = _fuzz(p.url, p.headers())
    service = {"X-API-Key": p.settings.tools_key, "X-User-Id": "fuzzer"}
    tools_ops, tools_calls, tools_failures = _fuzz(p.settings.tools_url, service)
    assert main_ops > 10 and tools_ops > 5
    assert main_calls >= main_ops and tools_calls >= tools_ops  # every operation was exercised
    assert main_failures + tools_failures == [], "\n\n".join(main_failures + tools_failures)
