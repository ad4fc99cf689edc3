# Backline — one command each. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install Backline with its dev dependencies

run: $(STAMP) ## Run the whole stack (API, workers, scheduler); embedded PostgreSQL/Redis when no URLs are set
	$(BIN)/python -m devstack

admin: $(STAMP) ## Create a platform admin: make admin EMAIL=ops@example.com (password prompted)
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com"; exit 2; }
	@set -a; if [ -f var/devstack.env ]; then . var/devstack.env; fi; set +a; \
	$(BIN)/flask --app web users create-admin "$(EMAIL)" $(if $(PASSWORD),--password "$(PASSWORD)")

test: $(STAMP) ## Run the test suite against real PostgreSQL and Redis
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, mypy, the layering contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

screenshots: $(STAMP) ## Photograph the dashboard into docs/ (needs /usr/bin/chromium)
	SCREENSHOTS_DIR=docs $(BIN)/python -m pytest tests/browser/test_screenshots.py -q

bench: $(STAMP) ## Measure throughput and latency (see README)
	$(BIN)/python -m bench.throughput

migrate: $(STAMP) ## Apply migrations to DATABASE_URL
	$(BIN)/alembic upgrade head

.PHONY: help install run admin test lint screenshots bench migrate
