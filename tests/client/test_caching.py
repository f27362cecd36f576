"""What the client caches to save round trips, and that it stays correct.

The local nonce counter (concurrency, an external transaction from the same account, a
transaction the node dropped), the shared latest block (gas limit cap, fee mode, base fee),
the priority fee, the chain id, batched receipt polls, and signing with the parsed key.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from web3.datastructures import AttributeDict

from chain_client import head
from chain_client.connection import connect, forget_chain_id
from chain_client.contract import deploy
from chain_client.encoding import to_hex
from chain_client.errors import ContractRevert
from chain_client.fees import AutoFees, Eip1559Fees, LegacyFees
from chain_client.node import AnvilNode
from chain_client.nonces import NonceManager
from chain_client.transactions import _sign
from tests.client.helpers import make_sender


class Requests:
    """Counts the JSON-RPC requests that reach a Web3's provider (past every cache)."""

    def __init__(self, w3) -> None:
        self.counts: Counter[str] = Counter()
        provider, real = w3.provider, w3.provider.make_request

        def counting(method, params):
            self.counts[str(method)] += 1
            return real(method, params)

        provider.make_request = counting
        provider._request_func_cache = (None, None)  # web3 captured the old method

    def take(self) -> Counter[str]:
        taken = Counter(self.counts)
        self.counts.clear()
        return taken


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:
        yield node


@pytest.fixture
def fresh(anvil, counter_artifact):
    """A new Web3 (so no cache is shared with other tests), a sender, a Counter, a tally."""
    w3 = connect(anvil.rpc_url)
    sender = make_sender(w3, anvil.dev_accounts(1)[0], resubmit_interval=0.2)
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 10**9)
    return w3, sender, counter, Requests(w3)


# -- round trips per transaction ------------------------------------------------------------


def test_a_transaction_costs_estimate_send_and_receipt(fresh):
    _w3, _sender, counter, requests = fresh
    counter.transact("add", 1)  # the nonce counter and the caches are warm now
    requests.take()
    receipt = counter.transact("add", 1)
    assert receipt["status"] == 1
    asked = requests.take()
    # the receipt is polled until the node has mined the block: once, or again if the
    # send came back before anvil's automine finished (seen with native signing)
    polls = asked.pop("eth_getTransactionReceipt")
    assert 1 <= polls <= 3
    assert asked == Counter(eth_estimateGas=1, eth_sendRawTransaction=1)


def test_more_confirmations_still_check_head_and_block(fresh, anvil):
    w3, sender, counter, requests = fresh
    pending = counter.submit("add", 1)
    anvil.mine(2)
    requests.take()
    receipt = sender.wait(pending, confirmations=3, timeout=10)
    assert w3.eth.block_number - receipt["blockNumber"] + 1 >= 3
    seen = requests.take()
    assert seen["eth_blockNumber"] >= 1 and seen["eth_getBlockByNumber"] >= 1


def test_chain_id_cache_reaches_the_node_once(anvil):
    w3 = connect(anvil.rpc_url)
    requests = Requests(w3)
    for _ in range(3):
        assert w3.eth.chain_id == 31337
        w3.eth.estimate_gas({"to": anvil.dev_accounts(2)[1].address, "value": 1})
    assert requests.take() == Counter(eth_chainId=1, eth_estimateGas=3)
    forget_chain_id(w3)
    assert w3.eth.chain_id == 31337
    assert requests.take() == Counter(eth_chainId=1)


def test_connect_shares_one_pooled_session_and_keeps_attribute_dicts(anvil):
    w3 = connect(anvil.rpc_url, pool_size=16)
    sessions = []

    def grab() -> None:
        manager = w3.provider._request_session_manager
        sessions.append(manager.cache_and_return_session(w3.provider.endpoint_uri))

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in sessions}) == 1
    assert sessions[0].get_adapter(anvil.rpc_url)._pool_maxsize == 16
    assert isinstance(w3.eth.get_block("latest"), AttributeDict)
    names = {name for _layer, name in w3.middleware_onion.middleware}
    assert "ens_name_to_address" not in names and "validation" in names


# -- nonces ---------------------------------------------------------------------------------


def test_nonce_counter_asks_the_node_once_even_with_many_threads(fresh):
    w3, sender, counter, requests = fresh
    sender.nonces.reset()
    start = w3.eth.get_transaction_count(sender.address, "pending")
    requests.take()
    pendings, errors, lock = [], [], threading.Lock()

    def worker() -> None:
        try:
            for _ in range(10):
                p = counter.submit("add", 1)
                with lock:
                    pendings.append(p)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p.nonce for p in pendings) == list(range(start, start + 40))
    assert requests.take()["eth_getTransactionCount"] == 1
    assert all(r["status"] == 1 for r in sender.wait_many(pendings))
    assert sender.nonces.peek(sender.address) == start + 40


def test_external_transaction_from_the_same_account_is_skipped_after_one_refusal(fresh):
    """Another process (own NonceManager) sends from our key: our counter is behind. The
    node refuses our next nonce once ("nonce too low"), we re-read its count once, and the
    transaction goes out with the next free nonce; nothing of either side is lost. Here the
    other process even signed the very same call with the same nonce and fees (identical
    bytes, already mined): that is still its transaction, not ours."""
    w3, sender, counter, requests = fresh
    counter.transact("add", 1)
    other = make_sender(w3, sender.account, nonce_manager=NonceManager(w3))
    other.send(counter.transaction("add", 1))
    other.send(counter.transaction("add", 1))
    total = counter.call("total")
    requests.take()
    receipt = counter.transact("add", 1)
    assert receipt["status"] == 1
    seen = requests.take()
    assert seen["eth_getTransactionCount"] == 1  # the one resync
    assert seen["eth_sendRawTransaction"] == 2  # refused once, then accepted
    assert counter.call("total") == total + 1
    assert sender.nonces.peek(sender.address) == w3.eth.get_transaction_count(sender.address)
    requests.take()
    counter.transact("add", 1)  # back to no nonce queries
    assert requests.take()["eth_getTransactionCount"] == 0


def test_external_transaction_still_in_the_pool_is_not_replaced(anvil, counter_artifact):
    """The other process's transaction holds our next nonce in the pool, unmined, at the
    same price: the node refuses ours as an underpriced replacement, we resync past it."""
    w3 = connect(anvil.rpc_url)
    sender = make_sender(w3, anvil.dev_accounts(3)[2])
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 10**9)
    counter.transact("add", 1)
    other = make_sender(w3, sender.account, nonce_manager=NonceManager(w3))
    anvil.set_automine(False)
    try:
        theirs = other.submit(counter.transaction("add", 10))
        ours = counter.submit("add", 1)
        assert ours.nonce == theirs.nonce + 1
        anvil.mine(1)
    finally:
        anvil.set_automine(True)
    assert other.wait(theirs)["status"] == 1
    assert sender.wait(ours)["status"] == 1
    assert counter.call("total") == 12


def test_dropped_transaction_keeps_its_nonce_and_is_resent(anvil, counter_artifact):
    """The node drops our nonce-N transaction from its pool. The counter does not go back:
    the next transaction takes N+1 (no node query) and waits behind the gap; waiting
    rebroadcasts N, and both get mined with the nonces they were signed with."""
    w3 = connect(anvil.rpc_url)
    sender = make_sender(w3, anvil.dev_accounts(4)[3], resubmit_interval=0.2)
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 10**9)
    requests = Requests(w3)
    anvil.set_automine(False)
    outcome: dict = {}
    try:
        first = counter.submit("add", 3)
        anvil.rpc("anvil_dropTransaction", [first.tx_hash])
        assert anvil.rpc("eth_getTransactionByHash", [first.tx_hash]) is None
        requests.take()
        second = counter.submit("add", 4)
        assert second.nonce == first.nonce + 1
        assert requests.take()["eth_getTransactionCount"] == 0
        waiter = threading.Thread(
            target=lambda: outcome.setdefault("receipts", sender.wait_many([first, second]))
        )
        waiter.start()
        deadline = time.monotonic() + 10
        while anvil.rpc("eth_getTransactionByHash", [first.tx_hash]) is None:
            assert time.monotonic() < deadline, "the dropped transaction was never resent"
            time.sleep(0.05)
        anvil.mine(1)
        waiter.join(20)
    finally:
        anvil.set_automine(True)
    receipts = outcome["receipts"]
    assert [r["status"] for r in receipts] == [1, 1]
    assert counter.call("total") == 7
    assert sender.nonces.peek(sender.address) == second.nonce + 1


def test_counter_ahead_of_a_reset_node(anvil, counter_artifact):
    """The node's state went back (reset, restart without its pool): our counter is ahead
    and, like any node that keeps future nonces, anvil queues the next transaction behind
    the gap. ``NonceManager.reset()`` after resetting a node makes the next send ask again."""
    w3 = connect(anvil.rpc_url)
    sender = make_sender(w3, anvil.dev_accounts(5)[4])
    counter = deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 10**9)
    snapshot = anvil.snapshot()
    counter.transact("add", 1)
    counter.transact("add", 1)
    anvil.revert(snapshot)
    mined = w3.eth.get_transaction_count(sender.address)
    assert sender.nonces.peek(sender.address) == mined + 2
    sender.nonces.reset(sender.address)
    pending = counter.submit("add", 5)
    assert pending.nonce == mined
    assert sender.wait(pending, timeout=10)["status"] == 1
    assert counter.call("total") == 5


# -- fees and the shared latest block -------------------------------------------------------


def test_fees_and_gas_limit_come_from_one_block_per_max_age(fresh):
    w3, sender, counter, requests = fresh
    head.forget(w3)
    fees = AutoFees(max_age=60)
    requests.take()
    for _ in range(5):
        assert fees.uses_eip1559(w3) is True
        fees.fees(w3)
        sender.estimate_gas(counter.transaction("add", 1))
    seen = requests.take()
    assert seen["eth_getBlockByNumber"] == 1
    assert seen["eth_maxPriorityFeePerGas"] == 1


def test_max_age_zero_asks_every_time(fresh):
    w3, _sender, _counter, requests = fresh
    fees = AutoFees(max_age=0)
    requests.take()
    for _ in range(3):
        fees.fees(w3)
    seen = requests.take()
    assert seen["eth_getBlockByNumber"] == 6  # mode, then base fee
    assert seen["eth_maxPriorityFeePerGas"] == 3


def test_cached_prices_expire(fresh):
    w3, _sender, _counter, requests = fresh
    fees = Eip1559Fees(max_age=0.2)
    legacy = LegacyFees(max_age=0.2)
    fees.fees(w3), legacy.fees(w3)
    requests.take()
    fees.fees(w3), legacy.fees(w3)
    assert requests.take() == Counter()
    time.sleep(0.3)
    fees.fees(w3), legacy.fees(w3)
    seen = requests.take()
    assert seen["eth_maxPriorityFeePerGas"] == 1 and seen["eth_gasPrice"] == 1
    assert seen["eth_getBlockByNumber"] == 1


def test_estimate_near_a_cached_gas_limit_reads_a_fresh_block(fresh):
    w3, sender, counter, _requests = fresh
    real = w3.eth.get_block("latest")
    # Pretend the cached block had a tiny gas limit: a cap that could matter is taken
    # from the block that is latest now, not from the cache.
    head._cache[w3] = (time.monotonic(), AttributeDict({**real, "gasLimit": 30_000}))
    gas = sender.estimate_gas(counter.transaction("add", 1))
    assert 30_000 < gas < int(real["gasLimit"])
    assert int(head.latest_block(w3)["gasLimit"]) == int(real["gasLimit"])


# -- receipts and signing -------------------------------------------------------------------


def test_wait_many_batches_receipts_and_matches_wait(fresh):
    w3, sender, counter, requests = fresh
    pendings = [counter.submit("add", 1) for _ in range(12)]
    # anvil answers eth_sendRawTransaction before it has mined the block (under load a
    # receipt can be missing for a moment): wait for the last one, which one sender's
    # nonce order mines after all the others, so the batch below finds all twelve
    w3.eth.wait_for_transaction_receipt(pendings[-1].tx_hash, timeout=30)
    requests.take()
    sent: list = []
    real = w3.provider.make_batch_request

    def spy(calls):
        sent.append(len(calls))
        return real(calls)

    w3.provider.make_batch_request = spy
    try:
        receipts = sender.wait_many(pendings)
    finally:
        del w3.provider.make_batch_request
    assert sent == [12]
    assert requests.take()["eth_getTransactionReceipt"] == 0  # all came in the batch
    one_by_one = [w3.eth.get_transaction_receipt(p.tx_hash) for p in pendings]
    assert receipts == one_by_one
    assert all(isinstance(r, AttributeDict) for r in receipts)


def test_wait_many_raises_the_first_failure_in_order(fresh):
    _w3, sender, counter, _requests = fresh
    total = counter.call("total")
    ok = counter.submit("add", 1)
    bad = counter.submit("add", 10**10, gas=200_000)  # fixed gas: mined, then reverts
    later = counter.submit("add", 1)
    with pytest.raises(ContractRevert) as info:
        sender.wait_many([ok, bad, later])
    assert type(info.value).__name__ == "TooLarge"
    assert sender.wait(later)["status"] == 1
    assert counter.call("total") == total + 2


@pytest.mark.parametrize("legacy", [False, True])
def test_signing_with_the_parsed_key_matches_eth_account(anvil, legacy):
    account = anvil.dev_accounts(1)[0]
    fields = {
        "to": anvil.dev_accounts(2)[1].address,
        "value": 5,
        "data": b"\x01\x02",
        "gas": 50_000,
        "nonce": 7,
        "chainId": 31337,
    }
    if legacy:
        fields["gasPrice"] = 10**9
    else:
        fields.update(maxFeePerGas=3 * 10**9, maxPriorityFeePerGas=10**9, type=2)
    raw, tx_hash = _sign(account, fields)
    signed = account.sign_transaction(fields)
    assert raw == bytes(signed.raw_transaction)
    assert tx_hash == to_hex(signed.hash)
