"""TransactionSender + ContractHandle against a real anvil (automine and 1 s blocks)."""

from __future__ import annotations

import threading
from collections import Counter as Multiset

import pytest

from chain_client.errors import ContractRevert, Panic, RevertWithReason, TransactionFailed
from chain_client.fees import LegacyFees
from chain_client.nonces import NonceManager
from tests.client.helpers import make_sender


def test_transact_and_read(counter):
    receipt = counter.transact("add", 7)
    assert receipt["status"] == 1
    counter.transact("add", 5)
    assert counter.call("total") == 12


def test_custom_error_from_estimate(counter):
    counter.transact("add", 990)
    with pytest.raises(ContractRevert) as info:
        counter.transact("add", 11)
    exc = info.value
    assert type(exc).__name__ == "TooLarge"
    assert isinstance(exc, counter.errors.TooLarge)
    assert exc.args == {"value": 1001, "limit": 1000}
    assert exc.tx_hash is None  # nothing was sent
    assert counter.call("total") == 990


def test_custom_error_from_mined_failure(counter, sender, w3):
    nonce_before = w3.eth.get_transaction_count(sender.address)
    with pytest.raises(counter.errors.TooLarge) as info:
        counter.transact("add", 5_000, gas=200_000)  # fixed gas: no estimate, it gets mined
    exc = info.value
    assert exc.args == {"value": 5_000, "limit": 1_000}
    assert exc.tx_hash is not None
    receipt = w3.eth.get_transaction_receipt(exc.tx_hash)
    assert receipt["status"] == 0
    assert w3.eth.get_transaction_count(sender.address) == nonce_before + 1


def test_error_classes_are_shared_per_abi(counter, counter_artifact, w3):
    from chain_client.contract import ContractHandle

    other = ContractHandle(w3, counter.address, counter_artifact.abi)
    assert other.errors.TooLarge is counter.errors.TooLarge
    with pytest.raises(other.errors.NotAllowed) as info:
        other.call("guarded", from_="0x" + "11" * 20)
    assert info.value.args == {"caller": "0x" + "11" * 20}


def test_reason_string_and_panic(counter):
    with pytest.raises(RevertWithReason) as reason:
        counter.call("failWithReason")
    assert reason.value.args == {"reason": "counter: reason string"}
    with pytest.raises(Panic) as panic:
        counter.call("divide", 1, 0)
    assert panic.value.args == {"code": 0x12}
    with pytest.raises(Panic):
        counter.transact("divide", 1, 0, gas=100_000)  # mined, replayed, decoded


def test_out_of_gas_has_no_reason(counter):
    with pytest.raises(TransactionFailed) as info:
        counter.transact("add", 1, gas=22_000)
    assert info.value.tx_hash is not None


def test_inherited_error_from_dependency(counter, node, w3, counter_artifact):
    stranger = make_sender(w3, node.dev_accounts(3)[2])
    with pytest.raises(ContractRevert) as info:
        counter.with_sender(stranger).transact("setLimit", 5)
    assert type(info.value).__name__ == "OwnableUnauthorizedAccount"
    assert info.value.args == {"account": stranger.address}


def test_concurrent_senders_one_account(counter, sender, w3):
    """8 threads x 25 txs from one account: every nonce used once, no gap, all mined."""
    start_nonce = w3.eth.get_transaction_count(sender.address)
    threads_n, per_thread = 8, 25
    pendings, errors = [], []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(per_thread):
                p = counter.submit("add", 1)
                with lock:
                    pendings.append(p)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    nonces = sorted(p.nonce for p in pendings)
    assert nonces == list(range(start_nonce, start_nonce + threads_n * per_thread))
    assert max(Multiset(p.tx_hash for p in pendings).values()) == 1
    receipts = [sender.wait(p, timeout=60) for p in pendings]
    assert all(r["status"] == 1 for r in receipts)
    assert counter.call("total") == threads_n * per_thread
    assert w3.eth.get_transaction_count(sender.address) == start_nonce + threads_n * per_thread


def test_nonce_resync_when_another_process_uses_the_account(counter, sender, w3, node):
    counter.transact("add", 1)
    # A second, independent sender (think: another process) for the same key.
    other = make_sender(w3, sender.account, nonce_manager=NonceManager(w3))
    other.send(counter.transaction("add", 1))
    other.send(counter.transaction("add", 1))
    receipt = counter.transact("add", 1)  # our local counter is stale; must recover
    assert receipt["status"] == 1
    assert counter.call("total") == 4


def test_confirmations(counter, sender, w3, node):
    pending = counter.submit("add", 1)
    if node.block_time is None:
        node.mine(2)  # automine: produce the blocks that confirm it
    receipt = sender.wait(pending, confirmations=3, timeout=20)
    assert w3.eth.block_number - receipt["blockNumber"] + 1 >= 3


def test_legacy_zero_price_mode_is_type0(counter, node, w3):
    # What the consortium node needs: type-0 transactions; anvil still wants a price >= base
    # fee, so the node's own legacy gas price is used here (zero-price is tested separately).
    legacy = make_sender(w3, node.dev_accounts(4)[3], fee_strategy=LegacyFees())
    receipt = counter.with_sender(legacy).transact("add", 2)
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["type"] == 0
    assert "maxFeePerGas" not in tx
