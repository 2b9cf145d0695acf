"""Load tests reuse the black-box fixtures."""

from tests.integration.conftest import llm_server  # noqa: F401
