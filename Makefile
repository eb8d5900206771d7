# Every target does its own set-up: a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup venv dev engine pulumi tools browser test lint demo bench clean

# Each CI job installs only what it needs: `venv` (deployctl and its runtime dependencies: check,
# codeowners), `engine` (plus the Pulumi CLI: preview, up, doctor); `dev` (test tools), `tools`
# (actionlint; act, which runs the workflows in tests/test_workflows_act.py) and `browser` (Chromium)
# only for the tests.
setup: dev engine tools browser

venv: $(VENV)/.installed

# uv (pinned: UV_VERSION) installs the pinned dependencies: a fresh venv in a fifth of pip's time from
# the same wheels (bench/bench_setup.py); pip itself stays in the venv, pinned, for what runs `pip`.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(BIN)/uv pip install --quiet --python $(BIN)/python pip==25.3 -e .
	@touch $@

dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $@

# The Pulumi CLI and Python language host, found or built once (cached outside the repo),
# then linked into the venv so `.venv/bin/pulumi` and deployctl always use the pinned version.
engine: venv
	@bindir=$$(scripts/install-pulumi | tail -n 1) && \
	  for f in "$$bindir"/*; do ln -sf "$$f" $(BIN)/; done

pulumi: engine

tools: dev
	@scripts/install-tools $(BIN)

browser:
	@scripts/install-browser >/dev/null

lint: dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/deployctl codeowners --check

# mypy reads its files and its strict core from pyproject.toml ([tool.mypy]).
# The set-up's parts side by side (a cold Pulumi build, act's and actionlint's, Chromium's download):
# on a fresh machine their downloads overlap the builds' compiling.
test:
	@$(MAKE) --no-print-directory -j 3 setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# The demo keeps its state in the repo's file backend, on purpose: allowed even under CI=true.
demo: engine
	DEPLOYCTL_ALLOW_LOCAL_BACKEND=1 $(BIN)/python scripts/demo.py $(DEMO_ARGS)

bench: dev engine # bench_team starts moto's S3 server (a dev dependency)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pulumi-state .deployments .demo
