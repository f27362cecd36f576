"""Helpers shared by the suites that run their own anvil node (tests/api, tests/cli,
tests/client). Only chain_client here, so that the client tests import nothing of the API.
"""

from __future__ import annotations

from chain_client.identity import uscc_check_digit
from chain_client.node import AnvilNode


def valid_uscc(serial: int, prefix: str = "9144030") -> str:
    """A well-formed unified social credit code, one per ``serial``: the organizations a
    test registers need codes that pass validation and do not collide."""
    body = f"{prefix}{serial:0{17 - len(prefix)}d}"[:17]
    return body + uscc_check_digit(body)


def travel(node: AnvilNode, seconds: int) -> None:
    """Move the chain's clock forward and mine a block that carries the new time."""
    node.rpc("evm_increaseTime", [seconds])
    node.mine()
