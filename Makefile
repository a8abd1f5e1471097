# Kartoteka — every set-up step a fresh machine needs lives here.
#   make demo   install, migrate, load synthetic demo data, serve on http://127.0.0.1:8000
#   make test   install, then ruff, mypy (strict) and pytest on SQLite and PostgreSQL
#   make help   this list
# Nothing is installed by hand: Python packages come from requirements/lock.txt (hashed), Debian packages
# (PostgreSQL when absent, chromium for browser tests) through scripts/ensure-*.sh.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests use the machine's PostgreSQL unless told otherwise; a missing server is a failure, never a skip.
export KARTOTEKA_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
# Django's test runner creates (and drops) test_kartoteka[_gwN] through this URL.
PG_APP_URL ?= postgres://postgres@127.0.0.1:5432/kartoteka

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements/lock.txt pyproject.toml scripts/find-python.sh
	@set -e; py=$$(scripts/find-python.sh); echo "using $$py"; \
	  [ -x $(PY) ] || $$py -m venv $(VENV); \
	  $(PY) -m pip install -q --upgrade "pip>=25" ; \
	  $(PY) -m pip install -q --require-hashes -r requirements/lock.txt; \
	  $(PY) -m pip install -q --no-deps -e .
	@touch $@

.PHONY: venv
venv: $(STAMP) ## create .venv and install the locked dependencies

.PHONY: demo
demo: $(STAMP) ## DEMO: keys, agent, database and synthetic data in ./var, then serve on http://127.0.0.1:8000
	KARTOTEKA_DEMO=1 $(VENV)/bin/kartoteka demo --serve

.PHONY: services
services: ## make sure PostgreSQL runs, and chromium and mat2 are installed (Debian packages, installed if absent)
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh
	@scripts/ensure-mat2.sh
	@scripts/ensure-poppler.sh

.PHONY: lint
lint: $(STAMP) ## ruff and mypy (strict on kartoteka/)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: test
test: $(STAMP) services lint ## everything CI runs: lint, then the tests on SQLite and again on PostgreSQL
	@start=$$(date +%s); \
	  $(VENV)/bin/pytest -n 2 --dist loadgroup && \
	  echo "--- database tests again on PostgreSQL ($(PG_APP_URL))" && \
	  DATABASE_URL=$(PG_APP_URL) $(VENV)/bin/pytest -n 2 --dist loadgroup -m django_db && \
	  echo "make test: $$(( $$(date +%s) - start )) s"

.PHONY: bench
bench: $(STAMP) ## run every benchmark (see docs/benchmarks.md)
	$(PY) -m bench crypto

.PHONY: lock
lock: ## re-pin requirements/lock.txt from pyproject.toml (needs the network to PyPI)
	@set -e; py=$$(scripts/find-python.sh); d=$$(mktemp -d); $$py -m venv $$d; \
	  $$d/bin/pip install -q pip-tools; \
	  $$d/bin/pip-compile -q --generate-hashes --extra dev --strip-extras -o requirements/lock.txt pyproject.toml; \
	  rm -rf $$d

.PHONY: clean
clean: ## remove the virtual environment and caches (keeps ./var, the data directory)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
