"""The send path against nodes that behave otherwise than anvil (issue 12): real
proof-of-authority nodes (@ethereumjs/client, geth, Besu) imitated by a JSON-RPC proxy in
front of anvil (tests/client/rpc_proxy.py) that rewrites anvil's answers.

Each test here failed before the send path judged refusals by meaning, retried transient
node errors, and paced itself by the block period.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chain_client.connection import connect
from chain_client.encoding import to_hex
from chain_client.errors import NodeError, TransactionRejected, TransactionTimeout
from chain_client.node import AnvilNode
from tests.client.helpers import make_sender
from tests.client.rpc_proxy import (
    ETHEREUMJS_NOT_IN_DB,
    Forward,
    JsonRpcProxy,
    Request,
    Response,
    ethereumjs_refusals,
    fail_first,
    hide_pooled_transactions,
    refuse_sends,
)

#: a payment to nobody in particular: these tests are about the transaction, not a call
PAYEE = "0x" + "5e" * 20


class Waiter:
    """``fn(*args, **kwargs)`` in a thread, so that the test can act while it waits."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        try:
            self.value = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the test by result()
            self.error = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout: float) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "still waiting"
        if self.error is not None:
            raise self.error
        return self.value


@pytest.fixture
def held(automine_node: AnvilNode) -> Iterator[AnvilNode]:
    """anvil with mining held back: a transaction stays in the pool until the test mines."""
    automine_node.set_automine(False)
    try:
        yield automine_node
    finally:
        automine_node.set_automine(True)


@pytest.fixture
def proxy(automine_node: AnvilNode) -> Iterator[JsonRpcProxy]:
    with JsonRpcProxy(automine_node.rpc_url) as running:
        yield running


def pending_count_hides_the_pool(request: Request, forward: Forward) -> Response | None:
    """A node whose pending nonce does not count its pool either."""
    if request.get("method") != "eth_getTransactionCount" or request["params"][1] != "pending":
        return None
    return forward({**request, "params": [request["params"][0], "latest"]})


def hide_every_transaction(request: Request, forward: Forward) -> Response | None:
    if request.get("method") == "eth_getTransactionByHash":
        return {"result": None}
    return None


def pooled(node: AnvilNode, tx_hash: str) -> bool:
    found = node.rpc("eth_getTransactionByHash", [tx_hash])
    return found is not None and found.get("blockNumber") is None


def eventually(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# -- 1. "already known" by meaning ----------------------------------------------------------


def test_a_node_hiding_its_pool_is_not_taken_to_have_dropped_the_transaction(held, proxy):
    """ethereumjs: eth_getTransactionByHash says null for a pooled transaction, and a resend
    is refused with "this transaction is already in the TxPool". The pending nonce shows
    that the pool holds it, so it is not sent again; it was, and the refusal killed the
    wait (TransactionRejected)."""
    proxy.add(hide_pooled_transactions)
    proxy.add(ethereumjs_refusals)
    sender = make_sender(connect(proxy.url), held.dev_accounts(2)[1], resubmit_interval=0.2)
    pending = sender.submit({"to": PAYEE, "value": 1})
    waiter = Waiter(sender.wait, pending, timeout=20)
    time.sleep(1.5)  # several resubmit checks while the node hides the pooled transaction
    assert waiter.running, waiter.error
    held.mine(1)
    receipt = waiter.result(10)
    assert receipt["status"] == 1 and to_hex(receipt["transactionHash"]) == pending.tx_hash
    assert proxy.calls["eth_sendRawTransaction"] == 1


def test_a_resend_refused_in_ethereumjs_words_counts_as_held(held, proxy):
    """A node that shows the pool nowhere, neither by hash nor in the pending nonce: the
    transaction looks dropped and is sent again, and "already in the TxPool" means ours is
    there (it raised TransactionRejected)."""
    proxy.add(hide_pooled_transactions)
    proxy.add(pending_count_hides_the_pool)
    proxy.add(ethereumjs_refusals)
    sender = make_sender(connect(proxy.url), held.dev_accounts(3)[2], resubmit_interval=0.2)
    pending = sender.submit({"to": PAYEE, "value": 1})
    waiter = Waiter(sender.wait, pending, timeout=20)
    eventually(lambda: proxy.calls["eth_sendRawTransaction"] >= 3, 10, "never sent again")
    assert waiter.running, waiter.error
    held.mine(1)
    assert to_hex(waiter.result(10)["transactionHash"]) == pending.tx_hash


def test_a_refusal_in_unknown_words_of_pooled_bytes_is_judged_by_the_chain(held, proxy):
    """Words no list knows, for bytes the node took before while our nonce is still open:
    the pool holds them (they raised TransactionRejected)."""
    proxy.add(hide_pooled_transactions)
    proxy.add(pending_count_hides_the_pool)
    sender = make_sender(connect(proxy.url), held.dev_accounts(4)[3], resubmit_interval=0.2)
    pending = sender.submit({"to": PAYEE, "value": 1})
    proxy.add(refuse_sends("E1207 交易已存在 {hash}"))
    waiter = Waiter(sender.wait, pending, timeout=20)
    eventually(lambda: proxy.calls["eth_sendRawTransaction"] >= 3, 10, "never sent again")
    assert waiter.running, waiter.error
    held.mine(1)
    assert waiter.result(10)["status"] == 1


def test_a_refusal_in_unknown_words_of_mined_bytes_is_judged_by_the_receipt(proxy, automine_node):
    """Mined, and a node that shows no transaction by hash refuses the same bytes again in
    words no list knows: the receipt says they are ours and mined (TransactionRejected)."""
    sender = make_sender(connect(proxy.url), automine_node.dev_accounts(5)[4])
    pending = sender.submit({"to": PAYEE, "value": 1})
    sender.wait(pending)
    proxy.add(hide_every_transaction)
    proxy.add(refuse_sends("E0001 rejected"))
    assert sender.rebroadcast(pending) is pending
    assert proxy.calls["eth_getTransactionReceipt"] >= 2  # asked after the refusal


def test_a_refusal_of_new_bytes_in_unknown_words_is_still_a_refusal(proxy, automine_node):
    """The chain shows nothing of a first broadcast that the node refused: a refusal."""
    proxy.add(refuse_sends("E0002 account frozen by the consortium"))
    sender = make_sender(connect(proxy.url), automine_node.dev_accounts(6)[5])
    with pytest.raises(TransactionRejected, match="account frozen"):
        sender.submit({"to": PAYEE, "value": 1})


# -- 2. transient node errors --------------------------------------------------------------


def test_receipt_polls_survive_not_found_in_db(proxy, automine_node):
    """ethereumjs answers -32603 "value for 0x.. not found in DB" to receipt reads for a
    moment after each block; the first such answer ended the wait (Web3RPCError)."""
    proxy.add(fail_first("eth_getTransactionReceipt", 4, -32603, ETHEREUMJS_NOT_IN_DB))
    sender = make_sender(connect(proxy.url), automine_node.dev_accounts(7)[6])
    receipt = sender.send({"to": PAYEE, "value": 1})
    assert receipt["status"] == 1
    assert proxy.calls["eth_getTransactionReceipt"] >= 5


def test_batched_receipt_polls_survive_not_found_in_db(proxy, automine_node):
    sender = make_sender(connect(proxy.url), automine_node.dev_accounts(8)[7])
    pendings = [sender.submit({"to": PAYEE, "value": v}) for v in (1, 2, 3)]
    proxy.add(fail_first("eth_getTransactionReceipt", 5, -32603, ETHEREUMJS_NOT_IN_DB))
    receipts = sender.wait_many(pendings)
    assert [to_hex(r["transactionHash"]) for r in receipts] == [p.tx_hash for p in pendings]


def test_wait_outlives_a_node_outage_and_sends_the_same_bytes_again(held, proxy):
    """The node goes down and comes back without its pool (a restart): the wait keeps
    going and sends the same bytes again. The first refused connection ended it."""
    sender = make_sender(connect(proxy.url), held.dev_accounts(9)[8], resubmit_interval=0.2)
    pending = sender.submit({"to": PAYEE, "value": 1})
    waiter = Waiter(sender.wait, pending, timeout=30)
    time.sleep(0.3)
    proxy.down()
    held.rpc("anvil_dropTransaction", [pending.tx_hash])  # the restart loses the pool
    time.sleep(2.5)
    assert waiter.running, waiter.error
    proxy.up()
    eventually(lambda: pooled(held, pending.tx_hash), 15, "never sent again after the outage")
    held.mine(1)
    receipt = waiter.result(15)
    assert to_hex(receipt["transactionHash"]) == pending.tx_hash  # the same bytes


def test_wait_on_a_node_that_stays_down_times_out_saying_so(proxy, automine_node):
    """The node never comes back: the wait ends at its timeout with an error that is a
    TransactionTimeout (the transaction may still be mined) and names the node; it raised
    requests' ConnectionError at once."""
    sender = make_sender(connect(proxy.url), automine_node.dev_accounts(10)[9])
    automine_node.set_automine(False)
    try:
        pending = sender.submit({"to": PAYEE, "value": 1})
        proxy.down()
        started = time.monotonic()
        with pytest.raises(TransactionTimeout, match="unreachable") as info:
            sender.wait(pending, timeout=2)
        elapsed = time.monotonic() - started
    finally:
        automine_node.set_automine(True)
    assert isinstance(info.value, NodeError)
    assert info.value.tx_hash == pending.tx_hash
    assert 1.5 <= elapsed < 6


# -- 3. pacing by the block period --------------------------------------------------------


@pytest.fixture(scope="module")
def one_second_chain() -> Iterator[AnvilNode]:
    """Not a development chain id: a chain with a period, like a Clique network's."""
    with AnvilNode(block_time=1, chain_id=4242) as node:
        yield node


def test_resubmit_interval_and_confirmations_follow_the_block_period(one_second_chain):
    w3 = connect(one_second_chain.rpc_url)
    eventually(lambda: w3.eth.block_number >= 3, 10, "no blocks")
    sender = make_sender(w3, one_second_chain.dev_accounts(1)[0])
    assert sender.resubmit_interval == 2.0  # two periods (was 3 s whatever the chain)
    assert sender.confirmations == 1 + math.ceil(3.0 / 1)  # blocks covering 3 s of forks
    receipt = sender.send({"to": PAYEE, "value": 1})
    assert w3.eth.block_number - receipt["blockNumber"] + 1 >= 4
    explicit = make_sender(w3, one_second_chain.dev_accounts(2)[1], resubmit_interval=0.5)
    explicit.confirmations = 1
    assert (explicit.resubmit_interval, explicit.confirmations) == (0.5, 1)


def test_a_development_chain_keeps_the_fixed_pacing(automine_node):
    sender = make_sender(connect(automine_node.rpc_url), automine_node.dev_accounts(1)[0])
    assert (sender.resubmit_interval, sender.confirmations) == (3.0, 1)
