"""Helpers of the consortium tests: raw signed transactions, receipts polled on a chosen
node, and a node stopped for the length of a block of code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chain_client.consortium import ConsortiumNetwork, ConsortiumNode
from chain_client.errors import NodeError

#: a contract whose runtime returns 42 for any call: initcode copies 10 bytes of runtime
#: (PUSH1 42, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN) and returns them
ANSWER_INITCODE = "0x600a600c600039600a6000f3602a60005260206000f3"
BURN = "0x000000000000000000000000000000000000dEaD"


def signed_transfer(account: Any, node: ConsortiumNode, *, nonce: int, tip: int = 0) -> Any:
    """A signed 1-wei EIP-1559 transfer from ``account`` (web3's SignedTransaction)."""
    fields = {
        "to": BURN,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": tip,
        "nonce": nonce,
        "chainId": node.network.chain_id,
        "type": 2,
    }
    return account.sign_transaction(fields)


def send_raw(node: ConsortiumNode, signed: Any) -> str:
    return str(node.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]))


def nonce_of(node: ConsortiumNode, address: str, block: str = "latest") -> int:
    return int(node.rpc("eth_getTransactionCount", [address, block]), 16)


def wait_for_receipt(node: ConsortiumNode, tx_hash: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = node.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.2)
    raise AssertionError(f"no receipt for {tx_hash} on {node.name} within {timeout}s")


def wait_for_blocks(node: ConsortiumNode, count: int, timeout: float = 60) -> int:
    """Wait until ``node``'s head is ``count`` blocks past where it is now."""
    start = node.head()[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        number = node.head()[0]
        if number >= start + count:
            return number
        time.sleep(0.3)
    raise AssertionError(f"{node.name} stayed at {node.head()[0]} (from {start})")


@contextmanager
def stopped(network: ConsortiumNetwork, name: str, *, kill: bool = False) -> Iterator[None]:
    """Node ``name`` is down inside the block (killed as in a power cut with ``kill``),
    started again after it, and back in agreement with the others before the test goes on."""
    node = network.node(name)
    if kill:
        node.kill()
    else:
        node.stop()
    try:
        yield
    finally:
        node.start()
        try:
            network.wait_until_in_sync(timeout=120)
        except NodeError as exc:  # pragma: no cover - shown with the node's own words
            raise AssertionError(f"{exc}\n{node.log_tail()}") from exc
