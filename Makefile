# Two commands matter: `make run` starts the platform, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench conformance clean services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamp files re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,kafka]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/mep run

services:
	./scripts/ensure-services.sh

test: $(VENV)/.installed-dev services lint
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check mep broker conformance tests bench
	$(BIN)/ruff format --check mep broker conformance tests bench
	$(BIN)/mypy mep broker conformance

bench: $(VENV)/.installed-dev services
	$(BIN)/python bench/store.py
	$(BIN)/python bench/mp1.py
	$(BIN)/python bench/network.py
	$(BIN)/python bench/service_broker.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/dns_responder.py
	$(BIN)/python bench/dataplane.py

# The official-spec checks against a running platform (default: the one `make run` starts).
MEP_URL ?= http://127.0.0.1:8080
conformance: $(VENV)/.installed-dev
	$(BIN)/python -m conformance mp1 --base-url $(MEP_URL) \
		--operator-token "$${MEP_ADMIN_TOKEN:-$$(cat var/admin-token)}"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
