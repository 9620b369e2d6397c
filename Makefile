# Two commands for a fresh clone: `make demo` (set up, run the main demo) and `make test` (set up, run the tests).
# Setup is idempotent: the venv and node_modules are rebuilt only when pyproject.toml or package-lock.json change.
PYTHON ?= python3
VENV := .venv
TEST_JOBS ?= auto
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup native demo test test-extended test-all test-pure bench compile docs clean

setup: $(PY_STAMP) $(NODE_STAMP) native

$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "market_sim needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The optional compiled build of the hot modules (market_sim/_native.py): the install above builds it where a C
# compiler exists; this rebuilds whatever changed since (quick when nothing did) and never fails. A module whose .py
# differs from the one it was compiled from runs as Python, with a warning naming this target.
native: $(PY_STAMP)
	@$(BIN)/python scripts/native_build.py -q

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js >= 20"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/market-sim run settlement-demo

# `make test`: the default suite (a few minutes), spread over TEST_JOBS processes (pytest-xdist; one per core;
# `make test TEST_JOBS=0` runs it in this process). `make test-extended`: only what the default leaves out (the sweeps
# and benchmark smoke runs; CI runs both). `make test-all`: everything in one run.
# A marker run that selects nothing exits 5 in pytest ("no tests collected"): that is not a failure here.
test: setup
	$(BIN)/python -m pytest -n $(TEST_JOBS)

test-extended: setup
	$(BIN)/python -m pytest -m 'slow or sweep or perf' || [ $$? -eq 5 ]

test-all: setup
	$(BIN)/python -m pytest -m ''

# The engine, replay and simulation tests against the pure-Python modules (the default run uses the compiled ones
# where they are built); tests/unit/test_native.py checks that both give byte-identical results.
test-pure: setup
	MARKET_SIM_PURE=1 $(BIN)/python -m pytest tests/unit/market tests/unit/core tests/unit/simulation tests/unit/test_native.py

bench: setup
	$(BIN)/market-sim bench matching --json

compile: setup
	$(BIN)/python scripts/compile.py

# The documentation site (mkdocs.yml; [docs] extra, in [dev]) into site/, warnings as errors. The tutorial notebooks
# are rebuilt from tutorials/src/ with `python scripts/build_tutorials.py`.
docs: setup
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis build site market_sim/_native.json
	find market_sim -name '*.so' -delete

# ---- contract security (issue 22; docs/security.md) --------------------------------------------------------------
# slither + halmos live in their own venv (.venv-security, pinned in requirements-security.txt): slither's
# dependencies must not move the project's pinned web3 stack. forge comes from npm (devDependencies), same version as
# anvil. `make security` is the CI depth (a few minutes); `make security-deep` fuzzes the invariants much longer.
SEC_VENV := .venv-security
SEC_STAMP := $(SEC_VENV)/.installed
FORGE_BIN := $(CURDIR)/node_modules/@foundry-rs/forge-linux-amd64/bin
SEC_ENV := PATH=$(FORGE_BIN):$$PATH
HALMOS_FLAGS := --contract SymbolicChecks --forge-build-out .forge/out --loop 4 --solver-timeout-assertion 300000

.PHONY: security security-deep security-setup

security-setup: $(NODE_STAMP) $(SEC_STAMP)

$(SEC_STAMP): requirements-security.txt
	test -x $(SEC_VENV)/bin/python || $(PYTHON) -m venv $(SEC_VENV)
	$(SEC_VENV)/bin/python -m pip install --quiet -r requirements-security.txt
	touch $@

security: security-setup
	$(SEC_VENV)/bin/python security/slither_check.py
	$(SEC_ENV) forge test --offline
	$(SEC_ENV) $(SEC_VENV)/bin/halmos $(HALMOS_FLAGS)

security-deep: security-setup
	$(SEC_ENV) FOUNDRY_PROFILE=deep forge test --offline
