# The two commands of the README. Both set everything up first (idempotently).
#   make run   - local chain + contracts + API on SQLite, seeded on first start (scf up)
#   make test  - lint and the whole test suite
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup run test lint test-contracts test-client test-api test-cli test-portal screenshots test-consortium bench-gas

setup:
	@bash tools/bootstrap.sh

run: setup
	$(VENV)/scf up $(ARGS)

# the checks are defined once, in .pre-commit-config.yaml: ruff check, ruff format --check,
# mypy (chain_client, api) and solhint (contracts)
lint: setup
	.venv-lint/bin/pre-commit run --all-files --show-diff-on-failure

# pytest's configuration (pyproject.toml) blocks brownie's plugin, which only the contract
# tests use: -p pytest-brownie unblocks it. (`brownie test` cannot: it registers the plugin
# before addopts blocks it, and registering it again fails on its duplicate options.)
test-contracts: setup
	$(VENV)/python -m pytest tests/contracts -p pytest-brownie --network scf-test

test-client: setup
	$(VENV)/python -m pytest tests/client -q

test-api: setup
	$(VENV)/python -m pytest tests/api -q

test-cli: setup
	$(VENV)/python -m pytest tests/cli -q

# the web portal in Debian's chromium, driven by Playwright (tests/portal)
test-portal: setup
	$(VENV)/python -m pytest tests/portal -q

# docs/screenshots: each role's main page, as the portal's tests leave it
screenshots: setup
	SCF_SCREENSHOTS=1 $(VENV)/python -m pytest tests/portal -q

# a network of four @ethereumjs/client nodes (chain_client/consortium.py), one per run
test-consortium: setup
	$(VENV)/python -m pytest tests/consortium -q

test: lint test-contracts test-client test-api test-cli test-portal test-consortium

bench-gas: setup
	$(VENV)/brownie run scripts/benchmark_gas.py --network scf-test
