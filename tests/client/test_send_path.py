"""The one send path: prepare, sign, a caller's hook, broadcast (TransactionSender and
Ledger), as the API's journal uses it."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import TransactionNotFound

from chain_client.encoding import to_hex
from chain_client.errors import TransactionRejected
from chain_client.nonces import NonceManager
from chain_client.transactions import SignedTransaction
from tests.client.helpers import LedgerWorld, make_sender


class JournalDownError(Exception):
    """The journal could not commit the signed transaction."""


def test_the_hook_sees_the_signed_bytes_before_the_node_does(counter, sender, w3):
    seen: list[SignedTransaction] = []

    def journal(signed: SignedTransaction) -> None:
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction(signed.tx_hash)  # not broadcast yet
        seen.append(signed)

    pending = sender.submit(
        counter.transaction("add", 3), abi=counter.abi, before_broadcast=journal
    )
    assert [s.tx_hash for s in seen] == [pending.tx_hash]
    signed = seen[0]
    assert to_hex(keccak(signed.raw)) == signed.tx_hash
    assert signed.sender == sender.address and signed.nonce == pending.nonce
    receipt = sender.wait(pending)
    assert to_hex(receipt["transactionHash"]) == signed.tx_hash
    assert bytes(w3.eth.get_transaction(signed.tx_hash)["input"]) == bytes(signed.fields["data"])


def test_a_hook_that_raises_means_nothing_is_broadcast(counter, sender, w3):
    counter.transact("add", 1)  # the sender's nonce counter is warm
    before = w3.eth.get_transaction_count(sender.address, "pending")
    refused: list[str] = []

    def fail(signed: SignedTransaction) -> None:
        refused.append(signed.tx_hash)
        raise JournalDownError()

    with pytest.raises(JournalDownError):
        sender.submit(counter.transaction("add", 1), abi=counter.abi, before_broadcast=fail)
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction(refused[0])
    assert w3.eth.get_transaction_count(sender.address, "pending") == before
    # the nonce was not used up: the next transaction takes it
    assert counter.submit("add", 1).nonce == before


def test_a_taken_nonce_is_signed_again_and_the_hook_sees_both(counter, sender, w3):
    counter.transact("add", 1)
    other = make_sender(w3, sender.account, nonce_manager=NonceManager(w3))  # another process
    other.send(counter.transaction("add", 1))
    seen: list[SignedTransaction] = []
    pending = sender.submit(
        counter.transaction("add", 1), abi=counter.abi, before_broadcast=seen.append
    )
    assert [s.nonce for s in seen] == [pending.nonce - 1, pending.nonce]
    assert seen[-1].tx_hash == pending.tx_hash
    assert sender.wait(pending)["status"] == 1


def test_a_transaction_the_node_refuses_raises_transaction_rejected(counter, w3):
    broke = make_sender(w3, Account.create())  # no ether for gas
    tx = {**counter.transaction("add", 1), "gas": 100_000}  # fixed gas: no estimate
    seen: list[SignedTransaction] = []
    with pytest.raises(TransactionRejected, match="node rejected"):
        broke.submit(tx, abi=counter.abi, before_broadcast=seen.append)
    assert len(seen) == 1  # journaled, then refused by the node


def test_prepare_then_submit_prepared_is_submit(counter, sender):
    prepared = sender.prepare(counter.transaction("add", 2), abi=counter.abi)
    assert "nonce" not in prepared.fields and prepared.fields["gas"] > 21_000
    receipt = sender.wait(sender.submit_prepared(prepared))
    assert receipt["status"] == 1


def test_a_journaled_ledger_call_is_tracked_to_its_outcome(world: LedgerWorld):
    _cid, root = world.issue(face_value=5_000)
    supplier = world.supplier
    call = supplier.calls.split(root, world.supplier2.account, 1_200)
    journal: list[SignedTransaction] = []
    supplier.submit(call, before_broadcast=journal.append)
    # as a restarted process would: only the journaled bytes, hash, sender and nonce
    stored = journal[-1]
    bytes_only = SignedTransaction(stored.sender, stored.nonce, stored.tx_hash, stored.raw)
    outcome = supplier.track(call, bytes_only).wait()
    assert outcome.tx_hash == stored.tx_hash
    assert supplier.fragment(outcome.value).value == 1_200
    assert supplier.outcome(call, supplier.w3.eth.get_transaction_receipt(outcome.tx_hash)) == (
        outcome
    )
