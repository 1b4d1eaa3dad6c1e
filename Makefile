# MachineNativeOps: `make run` starts the whole mesh locally; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-long test-faults fuzz lock lint typecheck imports pytest bench clean help system-deps

help:
	@echo "make run    - set up and start the whole mesh on the embedded local stack"
	@echo "make test   - set up and run ruff, mypy, import contracts and pytest"
	@echo "make test-long - variations of make run and the supervisor that start whole stacks again (minutes)"
	@echo "make test-faults - the full fault suite under steady ingest (kills, freezes; minutes)"
	@echo "make fuzz   - fuzz every API operation for longer, with a random seed (minutes)"
	@echo "make bench  - run the benchmarks (figures for the issue notes)"
	@echo "make lock   - regenerate requirements/*.txt (LOCK_FLAGS=--upgrade to move the pins)"

# The SDK and the wire contract it shares with the server are distributions of their own (sdk/):
# installed from their directories, editable, after the locked dependencies.
SDK_DISTS := sdk/mno-wire sdk/mno-sdk
LOCKS := requirements/dev.txt requirements/runtime.txt

# Every other distribution comes from the lock, pinned with hashes (pip's hash-checking mode refuses
# editables in the same run, hence two runs); --no-build-isolation builds the editables with the
# locked setuptools rather than whatever PyPI serves that day. pip check fails the install when a
# dependency is missing from the lock (not an extra's: tests/deploy/test_lock.py checks those too).
$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(SDK_DISTS)) $(LOCKS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation $(addprefix -e ,$(SDK_DISTS)) -e .
	@$(BIN)/python -m pip check || { echo "the lock misses a requirement: run 'make lock'" >&2; exit 1; }
	@touch $(STAMP)

# The lock files pin, with hashes, what `make` (requirements/dev.txt) and the image
# (requirements/runtime.txt, constrained by dev.txt: the image runs the versions the tests ran)
# install, for CPython 3.11 on x86_64 Linux (CI's and the image's platform; every file of a pinned
# version is hashed, but markers are evaluated for that platform only). Regenerating keeps every pin
# it can and adds what requirements/*.in and pyproject.toml newly need; upgrading is deliberate:
# `make lock LOCK_FLAGS=--upgrade` (or `--upgrade-package NAME`). It uses the venv's uv (the locked
# one) and needs only a venv, not a current one: `make lock UV=uv` works with any uv >= 0.13.
UV ?= $(BIN)/uv
LOCK_COMPILE = $(UV) pip compile --quiet --generate-hashes \
	--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--no-emit-package mno-wire --no-emit-package mno-sdk --no-emit-package machine-native-ops
lock:
	$(LOCK_COMPILE) $(LOCK_FLAGS) requirements/dev.in -o requirements/dev.txt
	$(LOCK_COMPILE) -c requirements/dev.txt requirements/runtime.in -o requirements/runtime.txt

run: $(STAMP)
	$(BIN)/mno run

# sdk/*/pyproject.toml set ruff's target to py39 there; vermin names any stdlib API newer than 3.9.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vermin --quiet --no-tips --violations -t=3.9- sdk/

# mypy 2 no longer targets Python 3.9: the SDK's 3.9 check runs a mypy 1.x of its own (sdk/mypy-py39.toml).
MYPY_PY39 := build/mypy-py39/bin/mypy
$(MYPY_PY39):
	$(PYTHON) -m venv build/mypy-py39
	build/mypy-py39/bin/python -m pip install --quiet 'mypy>=1.19,<2'

# The benchmarks are scripts importing their sibling `harness`: type-checked on their own.
typecheck: $(STAMP) $(MYPY_PY39)
	$(BIN)/mypy
	MYPYPATH=benchmarks $(BIN)/mypy benchmarks/*.py
	$(MYPY_PY39) --config-file sdk/mypy-py39.toml --python-executable $(BIN)/python -p mno_wire -p mno_sdk

imports: $(STAMP)
	$(BIN)/lint-imports

system-deps:
	@scripts/system-deps.sh

# Whole test files go to two workers (pytest-xdist, --dist loadfile): most tests wait on real servers,
# so two workers on two cores roughly halve the wall time. PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

test: lint typecheck imports pytest

# Tests marked `long` (tests/conftest.py leaves them out of `make test`): `make run` again on a used
# data dir, Ctrl-C during set-up, GitHub sign-in enabled, a crash loop, two stacks side by side.
test-long: $(STAMP) system-deps
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m long $(PYTEST_ARGS)

# Every agent, nats-server and PostgreSQL killed under steady ingest, a 20 s freeze (`make test` runs a
# short form): the fault table is printed at the end and written to build/faults/.
test-faults: $(STAMP)
	$(BIN)/python -m pytest tests/faults -m faults_full $(PYTEST_ARGS)

# schemathesis against the served OpenAPI document (`make test` runs a short pass with a fixed seed): many
# more examples per operation and a new seed each run; figures and failures (with their curl) printed at
# the end and written to build/fuzz/summary.json. MNO_FUZZ_SEED=<n> replays a run.
FUZZ_EXAMPLES ?= 150
FUZZ_SEED ?= random
fuzz: $(STAMP)
	MNO_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) MNO_FUZZ_SEED=$(FUZZ_SEED) $(BIN)/python -m pytest tests/fuzz $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/mesh.py
	$(BIN)/python benchmarks/webhooks.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/costs_query.py
	$(BIN)/python benchmarks/forecasting.py
	$(BIN)/python benchmarks/scan.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/otlp.py
	$(BIN)/python benchmarks/proxy.py
	$(BIN)/python benchmarks/registry.py
	$(BIN)/python benchmarks/prompts.py
	$(BIN)/python benchmarks/load.py

clean:
	rm -rf $(VENV) .mno .pytest_cache .mypy_cache .ruff_cache
