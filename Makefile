# Needs only python3 (3.11+): uv is installed into .tools/ on first use, and uv builds .venv.
# Python is never downloaded; uv uses the interpreter the machine has.
export UV_PYTHON_DOWNLOADS := never

PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
# Rebuilt when the lock or any workspace member's pyproject changes.
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes at once (pytest-xdist); each starts its own PostgreSQL cluster and broker.
# TEST_WORKERS=0 runs the tests in one process.
TEST_WORKERS ?= 2
MUTATION_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench mutation migrate clean-data

help:
	@echo "make install     create .venv from uv.lock (other targets do this when needed)"
	@echo "make run         the whole suite locally: PostgreSQL, broker, migrations, services"
	@echo "make test        the test suite in TEST_WORKERS processes (PYTEST_ARGS='-k name' to narrow it)"
	@echo "make lint        ruff check, ruff format --check, mypy --strict"
	@echo "make format      ruff format and autofix"
	@echo "make bench       benchmarks; writes a report"
	@echo "make mutation    sampled mutation testing of the core modules; writes bench/MUTATION.md"
	@echo "                 (MUTATION_ARGS='--module \"outbox relay\" --sample 8' to narrow it)"
	@echo "make migrate     run every service's migrations (DATABASE_URL or the local cluster)"
	@echo "make clean-data  stop leftovers of make run and delete .local/"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(INSTALLED): $(UV) pyproject.toml $(wildcard uv.lock) $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	$(UV) sync --all-packages $(if $(wildcard uv.lock),--frozen)
	@touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/helpdesk-devstack up

# loadfile: a file's tests share one worker, so a module's fixtures start once. Files go
# out in collection order: xdist's default (most tests first) would leave the end-to-end
# files, few tests but the longest, all for the end.
test: $(INSTALLED)
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# bench/ may not hold Python files yet, and mypy refuses a directory without any.
MYPY_DIRS = $(foreach dir,libs services tests bench,$(if $(shell find $(dir) -name '*.py' 2>/dev/null | head -n 1),$(dir)))

# Every member's src/ folder, so a new service needs no edit here.
empty :=
space := $(empty) $(empty)
export MYPYPATH := $(subst $(space),:,$(wildcard libs/*/src services/*/src))

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_DIRS)

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(INSTALLED)
	$(VENV)/bin/python bench/run.py
	$(VENV)/bin/python bench/rules.py
	$(VENV)/bin/python bench/router.py
	$(VENV)/bin/python bench/notifier.py
	$(VENV)/bin/python bench/sla_tracker.py
	$(VENV)/bin/python bench/scheduler.py

mutation: $(INSTALLED)
	$(VENV)/bin/python bench/mutation.py $(MUTATION_ARGS)

migrate: $(INSTALLED)
	$(VENV)/bin/helpdesk-devstack migrate

clean-data:
	@if [ -x $(VENV)/bin/helpdesk-devstack ]; then $(VENV)/bin/helpdesk-devstack clean-data; else rm -rf .local; fi
