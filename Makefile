# The suite's entry points; `make` alone lists them. Everything runs in uv environments: the root
# one (`.venv`, every workspace package) and, for `make test`, one per package under `.venvs/`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# uv installed with `pip install --user` lands in ~/.local/bin.
export PATH := $(HOME)/.local/bin:$(PATH)
# The machine's Python 3.11, never a downloaded one.
export UV_PYTHON_DOWNLOADS ?= never

# `make test` tests these package directories in this order, each in an environment holding only
# that package, its dependencies and its dev group. Add a new library or service here.
TEST_PACKAGES := libs/contracts libs/kit services/user services/catalog services/coupon services/order \
	services/payment services/ranking tools/bench
# Tests use this machine's servers (`make infra`), not containers, unless told otherwise.
export TEST_INFRA ?= local

UV_RUN := uv run --no-sync

.PHONY: help uv sync run infra infra-stop token migrate test test-faults lint typecheck contracts bench

help: ## list the targets
	@echo "make <target>:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

uv:
	@command -v uv >/dev/null || { echo "==> installing uv (pip)" >&2; \
	  python3 -m pip install --quiet uv || python3 -m pip install --quiet --user --break-system-packages uv; }

sync: uv ## bring the root environment (.venv) in line with uv.lock
	@echo "==> uv sync --all-packages --locked" >&2
	@uv sync --all-packages --locked --quiet

run: sync ## install/start what is missing, then every service and the gateway (INSTANCES=2: each twice)
	$(UV_RUN) python -m devstack run $(if $(INSTANCES),--instances $(INSTANCES))

infra: sync ## install and start PostgreSQL, Redis and Kafka where nothing answers (they keep running)
	$(UV_RUN) python -m devstack infra

infra-stop: sync ## stop the servers `make infra` started
	$(UV_RUN) python -m devstack stop-infra

# USER is also the login name in every shell's environment: only USER=... on the command line counts.
token: sync ## print a JWT: make token USER=2 | make token ADMIN=1 [TTL=seconds]
	@$(UV_RUN) python -m devstack token \
	  $(if $(filter command line,$(origin USER)),--user $(USER)) \
	  $(if $(filter command line,$(origin ADMIN)),$(if $(filter-out 0 false,$(ADMIN)),--admin)) \
	  $(if $(TTL),--ttl $(TTL))

migrate: sync ## apply every service's migrations (PostgreSQL must answer: make infra)
	$(UV_RUN) python -m devstack migrate

# lint and typecheck come first: they fail in seconds, before any server starts.
test: sync lint typecheck ## lint, typecheck, infra, each package's tests in its own environment, tests/ (e2e)
	@echo; echo "### infrastructure (python -m devstack infra)"
	$(UV_RUN) python -m devstack infra
	@for dir in $(TEST_PACKAGES); do \
	  project=$$(sed -n 's/^name = "\(.*\)"$$/\1/p' "$$dir/pyproject.toml" | head -n 1); \
	  env_dir="$(CURDIR)/.venvs/$$project"; \
	  echo; echo "### $$dir: $$project in .venvs/$$project"; \
	  UV_PROJECT_ENVIRONMENT="$$env_dir" uv sync --package "$$project" --locked --exact --quiet; \
	  rc=0; (cd "$$dir" && "$$env_dir/bin/python" -m pytest tests) || rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "(no tests collected in $$dir/tests)"; \
	  elif [ $$rc -ne 0 ]; then echo; echo "### FAILED: $$dir (pytest exit $$rc)"; exit $$rc; fi; \
	done
	@echo; echo "### tests/ (root environment; the fault tests marked faults_full are left to make test-faults)"
	$(UV_RUN) python -m pytest tests -m "not faults_full"
	@echo; echo "### all tests passed"

test-faults: sync ## every fault test (tests/faults: kills, Redis, Kafka, PostgreSQL, data platform, N instances)
	$(UV_RUN) python -m devstack infra
	$(UV_RUN) python -m pytest tests/faults -rxX --durations=0

lint: sync ## ruff over the whole repository: the rules, and the formatting (ruff format --check)
	$(UV_RUN) ruff check .
	$(UV_RUN) ruff format --check .

typecheck: sync ## mypy over libs/ and services/, sources and tests (its settings: [tool.mypy] in pyproject.toml)
	$(UV_RUN) mypy

contracts: sync ## rewrite libs/contracts/schemas (JSON Schema + AsyncAPI) from the event models
	$(UV_RUN) python -m commerce_contracts.export libs/contracts/schemas

# QUICK=1: shorter runs and a smaller flood (under 3 minutes). URL=...: a running suite (make run)
# instead of one started for the run. PROFILE=1: py-spy flame graphs and pg_stat_statements too.
bench: sync ## the suite against its limits: make bench [QUICK=1] [URL=http://127.0.0.1:8080] [PROFILE=1]
	$(UV_RUN) python -m bench \
	  $(if $(filter-out 0 false,$(QUICK)),--quick) \
	  $(if $(URL),--url $(URL)) \
	  $(if $(filter-out 0 false,$(PROFILE)),--profile)
