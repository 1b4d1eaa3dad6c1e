# MachineNativeOps: `make run` starts the whole mesh locally; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck imports pytest bench clean help system-deps

help:
	@echo "make run    - set up and start the whole mesh on the embedded local stack"
	@echo "make test   - set up and run ruff, mypy, import contracts and pytest"
	@echo "make bench  - run the benchmarks (figures for the issue notes)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/mno run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The benchmarks are scripts importing their sibling `harness`: type-checked on their own.
typecheck: $(STAMP)
	$(BIN)/mypy
	MYPYPATH=benchmarks $(BIN)/mypy benchmarks/*.py

imports: $(STAMP)
	$(BIN)/lint-imports

system-deps:
	@scripts/system-deps.sh

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

test: lint typecheck imports pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/mesh.py
	$(BIN)/python benchmarks/webhooks.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/costs_query.py
	$(BIN)/python benchmarks/forecasting.py

clean:
	rm -rf $(VENV) .mno .pytest_cache .mypy_cache .ruff_cache
