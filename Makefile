# Every target does its own set-up: a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup venv pulumi test lint demo bench clean

setup: venv pulumi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# The Pulumi CLI and Python language host, found or built once (cached outside the repo),
# then linked into the venv so `.venv/bin/pulumi` and deployctl always use the pinned version.
pulumi: venv
	@bindir=$$(scripts/install-pulumi | tail -n 1) && \
	  for f in "$$bindir"/*; do ln -sf "$$f" $(BIN)/; done
	@scripts/install-tools $(BIN)
	@scripts/install-browser >/dev/null

lint: setup
	$(BIN)/ruff check .
	$(BIN)/deployctl codeowners --check

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

demo: setup
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pulumi-state .deployments .demo
