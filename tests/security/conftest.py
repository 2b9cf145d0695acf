"""Security tests reuse the black-box fixtures: real apps over HTTP, a scripted LLM."""

from tests.integration.conftest import llm_server, platform, platform_with_tools  # noqa: F401
from tests.rag.conftest import rag_server  # noqa: F401
from tests.tools_service.conftest import tools_app, tools_app_factory  # noqa: F401
