"""Dropped-transaction resubmission, nonce resync, and a consortium-like zero-price chain."""

from __future__ import annotations

import threading
import time

from eth_account import Account

from chain_client.connection import connect
from chain_client.contract import deploy
from chain_client.encoding import to_hex
from chain_client.fees import AutoFees
from chain_client.node import AnvilNode
from tests.client.helpers import make_sender


def test_dropped_transaction_is_resubmitted(automine_node, counter_artifact):
    node = automine_node
    w3 = connect(node.rpc_url)
    sender = make_sender(w3, node.dev_accounts(8)[7], resubmit_interval=0.2)
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 100)
    node.set_automine(False)
    try:
        pending = counter.submit("add", 3)
        assert w3.eth.get_transaction(pending.tx_hash) is not None
        node.rpc("anvil_dropTransaction", [pending.tx_hash])
        assert node.rpc("eth_getTransactionByHash", [pending.tx_hash]) is None

        outcome: dict = {}
        waiter = threading.Thread(
            target=lambda: outcome.setdefault("receipt", sender.wait(pending, timeout=15))
        )
        waiter.start()
        deadline = time.monotonic() + 10
        while node.rpc("eth_getTransactionByHash", [pending.tx_hash]) is None:
            assert time.monotonic() < deadline, "the sender never resubmitted the dropped tx"
            time.sleep(0.05)
        node.mine(1)
        waiter.join(20)
    finally:
        node.set_automine(True)
    receipt = outcome["receipt"]
    assert receipt["status"] == 1
    assert to_hex(receipt["transactionHash"]) == pending.tx_hash  # same raw tx
    assert counter.call("total") == 3


def test_nonce_too_low_triggers_resync(automine_node, counter_artifact, monkeypatch):
    w3 = connect(automine_node.rpc_url)
    sender = make_sender(w3, automine_node.dev_accounts(9)[8])
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 100)
    counter.transact("add", 1)
    # Simulate a race with another process: the node's count is read stale once.
    real = sender.nonces._pending_count
    calls = []

    def stale_once(address: str) -> int:
        calls.append(address)
        return 0 if len(calls) == 1 else real(address)

    monkeypatch.setattr(sender.nonces, "_pending_count", stale_once)
    sender.nonces.reset()
    pending = counter.submit("add", 2)
    assert len(calls) == 2  # the stale read, then the resync after "nonce too low"
    assert pending.nonce == real(sender.address) - 1  # not 0: resynced after the rejection
    assert sender.wait(pending)["status"] == 1
    assert counter.call("total") == 3


def test_zero_gas_price_legacy_chain_with_unfunded_account(counter_artifact):
    """What the consortium node looks like: no EIP-1559, gas price 0, accounts hold no ether."""
    with AnvilNode(hardfork="berlin", gas_price=0) as node:
        w3 = connect(node.rpc_url)
        assert "baseFeePerGas" not in w3.eth.get_block("latest")
        member = Account.create()
        assert w3.eth.get_balance(member.address) == 0
        fees = AutoFees()
        sender = make_sender(w3, member, fee_strategy=fees)
        counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 10)
        receipt = counter.transact("add", 4)
        tx = w3.eth.get_transaction(receipt["transactionHash"])
        assert fees.uses_eip1559(w3) is False
        assert tx["type"] == 0 and tx["gasPrice"] == 0
        assert counter.call("total") == 4
        assert w3.eth.get_balance(member.address) == 0
