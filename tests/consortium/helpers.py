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
#: a contract that sets four storage slots at deployment and clears them on any call (each
#: clearing refunds gas at the transaction's end): initcode stores 1 in slots 0-3, copies
#: the 21 bytes of runtime (SSTORE 0 into slots 0-3, STOP) from offset 32 and returns them
CLEARING_INITCODE = (
    "0x6001600055600160015560016002556001600355"
    "6015602060003960156000f3"
    "600060005560006001556000600255600060035500"
)
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


def back_in_sync(network: ConsortiumNetwork, name: str, *, timeout: float = 120) -> None:
    """Node ``name`` running again (started on its data folder if it is down, whoever
    stopped or killed it), in agreement with the others, and still there a few blocks
    later (:func:`stays_up`): what a test that takes a node down in its own way does
    before it ends."""
    node = network.node(name)
    if not node.running:
        node.start()
    try:
        network.wait_until_in_sync(timeout=timeout)
    except NodeError as exc:  # pragma: no cover - shown with the node's own words
        raise AssertionError(f"{exc}\n{node.log_tail()}") from exc
    stays_up(network)


def stays_up(network: ConsortiumNetwork, *, blocks: int = 6, timeout: float = 60) -> None:
    """Every node still running while the chain moves ``blocks`` blocks on at all of them.

    Why watch: a node can die just after it is back. @ethereumjs/client shuts itself down
    on an uncaught error, which takes seconds during which it still answers, so a node
    can look in sync and be gone a moment later, and the next test meets a network short
    of a sealer (with two of three sealers gone, Clique stops). A node found dead is
    started again, so that the tests after this one find the network whole, and the test
    fails with the node's last words."""
    heads = network.heads()
    start = max((number for number, _ in heads.values()), default=0)
    deadline = time.monotonic() + timeout
    while True:
        exited = [node for node in network if not node.running]
        if exited:
            last_words = exited[0].log_tail()
            for node in exited:
                node.start()
            network.wait_until_in_sync(timeout=120)
            raise AssertionError(
                f"node {exited[0].name} exited after the network was back (started again "
                f"for the tests after this one); its log:\n{last_words}"
            )
        heads = network.heads()
        if len(heads) == len(network.nodes) and min(n for n, _ in heads.values()) >= start + blocks:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the chain did not move {blocks} blocks in {timeout}s: {heads}")
        time.sleep(0.5)
