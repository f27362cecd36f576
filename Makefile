# The two commands of the README. Both set everything up first (idempotently).
#   make run   - local chain + contracts + API on SQLite, seeded on first start (scf up)
#   make test  - lint and the whole test suite
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup run test lint test-contracts test-client test-api test-cli bench-gas

setup:
	@bash tools/bootstrap.sh

run: setup
	$(VENV)/scf up $(ARGS)

# the checks are defined once, in .pre-commit-config.yaml: ruff check, ruff format --check,
# mypy (chain_client, api) and solhint (contracts)
lint: setup
	.venv-lint/bin/pre-commit run --all-files --show-diff-on-failure

test-contracts: setup
	$(VENV)/brownie test tests/contracts --network scf-test -W ignore::FutureWarning

# brownie's pytest plugin (registered as pytest-brownie) is for tests/contracts only
test-client: setup
	$(VENV)/python -m pytest -p no:pytest-brownie tests/client -q

test-api: setup
	$(VENV)/python -m pytest -p no:pytest-brownie tests/api -q -W ignore::DeprecationWarning

test-cli: setup
	$(VENV)/python -m pytest -p no:pytest-brownie tests/cli -q -W ignore::DeprecationWarning

test: lint test-contracts test-client test-api test-cli

bench-gas: setup
	$(VENV)/brownie run scripts/benchmark_gas.py --network scf-test
