"""The contract tests (pytest under brownie's plugin: make test-contracts)."""
