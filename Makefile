# The two commands of the README. Both set everything up first (idempotently).
#   make run   - local chain, contracts deployed, the lifecycle walked through, node kept up
#   make test  - lint and the whole test suite
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup run test lint test-contracts test-client bench-gas

setup:
	@bash tools/bootstrap.sh

run: setup
	@bash tools/run.sh

lint: setup
	$(VENV)/ruff check .

test-contracts: setup
	$(VENV)/brownie test tests/contracts --network scf-test -W ignore::FutureWarning

test-client: setup
	@if ls tests/client/test_*.py >/dev/null 2>&1; then \
	  $(VENV)/python -m pytest -p no:brownie tests/client -q; \
	else echo "no client tests yet"; fi

test: lint test-contracts test-client

bench-gas: setup
	$(VENV)/brownie run scripts/benchmark_gas.py --network scf-test
