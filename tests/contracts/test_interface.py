"""The deployed ledger's ABI is ICreditLedger's, plus only what OpenZeppelin adds.

Why: integrators, the verifier and chain_client code against ICreditLedger
(contracts/interfaces/ICreditLedger.sol). The compiler already checks that every function
the interface declares is implemented with the same signature; these tests check the rest:
that each entry (names of arguments and results, mutability, indexed flags) reaches the
deployed ABI unchanged, and that no external function, event or error is added to a module
without being declared, and documented, in the interface.
"""

from __future__ import annotations

import json

from brownie import interface

#: What the ledger's ABI holds beyond ICreditLedger: its constructor and what OpenZeppelin
#: adds (AccessControl's DEFAULT_ADMIN_ROLE constant, ERC-165's supportsInterface,
#: Pausable's events and errors, the reentrancy guard's and SafeERC20's errors).
OUTSIDE_THE_INTERFACE = {
    ("constructor", None),
    ("function", "DEFAULT_ADMIN_ROLE"),
    ("function", "supportsInterface"),
    ("event", "Paused"),
    ("event", "Unpaused"),
    ("error", "EnforcedPause"),
    ("error", "ExpectedPause"),
    ("error", "ReentrancyGuardReentrantCall"),
    ("error", "SafeERC20FailedOperation"),
}


def _entries(abi: list[dict]) -> dict[tuple[str, str | None], set[str]]:
    """ABI entries by (type, name), each as canonical JSON (overloads kept apart)."""
    entries: dict[tuple[str, str | None], set[str]] = {}
    for entry in abi:
        name = None if entry["type"] == "constructor" else entry["name"]  # brownie names it
        key = (entry["type"], name)
        entries.setdefault(key, set()).add(json.dumps(entry, sort_keys=True))
    return entries


def test_every_declaration_of_the_interface_is_in_the_deployed_abi(ledger):
    declared = _entries(interface.ICreditLedger.abi)
    deployed = _entries(ledger.abi)
    assert declared, "ICreditLedger compiled to an empty ABI"
    for key, entries in declared.items():
        assert entries <= deployed.get(key, set()), f"{key} differs from ICreditLedger"


def test_the_deployed_abi_declares_nothing_the_interface_does_not(ledger):
    declared = set(_entries(interface.ICreditLedger.abi))
    undeclared = set(_entries(ledger.abi)) - declared
    assert undeclared == OUTSIDE_THE_INTERFACE
