"""A transaction recorded by ``before_broadcast`` whose broadcast then meets a dead node
keeps its nonce: the caller holds its bytes and will send them again (the API's journal
waits for them, and its recovery finishes them), so the next transaction of the account
takes the next nonce.

Why: submit_prepared used to leave the nonce unused when the broadcast raised. The API's
command then waited for its journaled transaction while the next command of the same
account was signed with the same nonce. On the consortium network
(tests/consortium/test_faults.py, the API's node killed between a split's journal commit
and its broadcast) the next command was refused once the journaled bytes were back in the
pool ("replacement gas too low": 503 transaction_rejected), and where the new command's
bytes reached the node first, they took the nonce and the journaled command, whose client
had been told it would not be sent twice, was replaced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain_client.connection import connect
from chain_client.encoding import to_hex
from chain_client.errors import NodeUnavailable
from chain_client.node import AnvilNode
from chain_client.transactions import PendingTransaction, SignedTransaction
from tests.client.helpers import make_sender
from tests.client.rpc_proxy import JsonRpcProxy, fail_first

PAYEE = "0x" + "5e" * 20


@pytest.fixture
def proxy(automine_node: AnvilNode) -> Iterator[JsonRpcProxy]:
    with JsonRpcProxy(automine_node.rpc_url) as running:
        yield running


def test_a_journaled_transaction_keeps_its_nonce_when_the_node_dies_before_its_broadcast(
    proxy: JsonRpcProxy, automine_node: AnvilNode
) -> None:
    sender = make_sender(connect(proxy.url), automine_node.dev_accounts(3)[2])
    journaled: list[SignedTransaction] = []

    def journal_then_the_node_dies(signed: SignedTransaction) -> None:
        journaled.append(signed)
        proxy.down()

    with pytest.raises(NodeUnavailable):
        sender.submit({"to": PAYEE, "value": 1}, before_broadcast=journal_then_the_node_dies)
    proxy.up()
    after = sender.submit({"to": PAYEE, "value": 2})
    assert after.nonce == journaled[0].nonce + 1
    # the journaled bytes, sent again by their wait, are mined, and so is the next one
    first = sender.wait(PendingTransaction.of(journaled[0]), timeout=20)
    assert to_hex(first["transactionHash"]) == journaled[0].tx_hash
    assert to_hex(sender.wait(after, timeout=20)["transactionHash"]) == after.tx_hash


def test_a_broadcast_that_fails_without_a_record_leaves_the_nonce_free(
    proxy: JsonRpcProxy, automine_node: AnvilNode
) -> None:
    """Nothing recorded the bytes, so nobody will send them again: the nonce stays free
    for the next transaction (a used-up nonce would leave a gap that the account's later
    transactions queue behind)."""
    sender = make_sender(connect(proxy.url), automine_node.dev_accounts(4)[3])
    failing = proxy.add(fail_first("eth_sendRawTransaction", 1000, -32603, "internal error"))
    with pytest.raises(NodeUnavailable):
        sender.submit({"to": PAYEE, "value": 1})
    refused_nonce = sender.nonces.peek(sender.address)
    proxy.rules.remove(failing)
    mined = connect(automine_node.rpc_url).eth.get_transaction_count(sender.address)
    after = sender.submit({"to": PAYEE, "value": 2})
    assert refused_nonce is None or after.nonce == refused_nonce
    assert after.nonce == mined  # no gap
    assert sender.wait(after, timeout=20)["status"] == 1
