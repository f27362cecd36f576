"""What each patch of patches/ makes work on the consortium network, one test per patch
that concerns the node's answers (the network-level patches: test_network.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_utils import to_checksum_address

from chain_client.consortium import ConsortiumNetwork
from chain_client.errors import NodeError
from tests.consortium.helpers import (
    ANSWER_INITCODE,
    CLEARING_INITCODE,
    nonce_of,
    send_raw,
    signed_transfer,
    wait_for_receipt,
)


def test_estimate_gas(network: ConsortiumNetwork) -> None:
    """client 003: eth_estimateGas on a Clique chain (it failed on the missing seal)."""
    node = network.node("operator")
    account = network.dev_accounts()[0]
    estimate = node.rpc(
        "eth_estimateGas", [{"from": account.address, "to": account.address, "value": "0x1"}]
    )
    assert int(estimate, 16) == 21_000
    creation = node.rpc("eth_estimateGas", [{"from": account.address, "data": ANSWER_INITCODE}])
    assert 53_000 < int(creation, 16) < 60_000


def test_an_estimate_covers_the_gas_refunded_at_the_end(network: ConsortiumNetwork) -> None:
    """client 020: eth_estimateGas answered the gas spent after the refund of cleared
    storage, less than the transaction needs while it runs, so one sent with the estimate
    ran out of gas (seen: a bank cancelling its standing bid, which clears the escrow, failed
    in `scf up --consortium --demo`). Sent with exactly the estimate, it now succeeds."""
    node = network.node("operator")
    account = network.dev_accounts()[2]
    fields: dict[str, Any] = {
        "data": CLEARING_INITCODE,
        "gas": 300_000,
        "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 0,
        "nonce": nonce_of(node, account.address),
        "chainId": network.chain_id,
        "type": 2,
    }
    receipt = wait_for_receipt(node, send_raw(node, account.sign_transaction(fields)))
    assert int(receipt["status"], 16) == 1
    contract = to_checksum_address(receipt["contractAddress"])
    estimate = int(node.rpc("eth_estimateGas", [{"from": account.address, "to": contract}]), 16)
    fields = {**fields, "to": contract, "data": "0x", "gas": estimate}
    fields["nonce"] = nonce_of(node, account.address)
    receipt = wait_for_receipt(node, send_raw(node, account.sign_transaction(fields)))
    assert int(receipt["status"], 16) == 1, (estimate, receipt)
    # four cold slots cleared: 21,000 + 4 x 5,000 while it runs, 8,200 refunded at the end
    assert estimate >= 41_000 > int(receipt["gasUsed"], 16)


def test_contracts_deploy_and_answer_calls(network: ConsortiumNetwork) -> None:
    """client 002: code runs at all (the EVM refused every call and deployment), and the
    deployed code is the same on a node that did not seal it."""
    node = network.node("bank-a")
    account = network.dev_accounts()[1]
    fields = {
        "data": ANSWER_INITCODE,
        "gas": 200_000,
        "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 0,
        "nonce": nonce_of(node, account.address),
        "chainId": network.chain_id,
        "type": 2,
    }
    signed = account.sign_transaction(fields)
    receipt = wait_for_receipt(node, send_raw(node, signed))
    assert int(receipt["status"], 16) == 1
    address = receipt["contractAddress"]
    network.wait_until_in_sync(past=int(receipt["blockNumber"], 16))
    for reader in network:
        assert reader.rpc("eth_getCode", [address, "latest"]) == "0x602a60005260206000f3"
        answer = reader.rpc("eth_call", [{"to": address, "data": "0x"}, "latest"])
        assert int(answer, 16) == 42


def test_a_pooled_transaction_is_visible_by_hash(network: ConsortiumNetwork) -> None:
    """client 004: a transaction the pool holds is known by its hash, with no block yet
    (the client answered null, as if it had been dropped). A nonce gap keeps it pooled
    for as long as the test looks; filling the gap then lets both be mined."""
    node = network.node("operator")
    account = network.dev_accounts()[2]
    nonce = nonce_of(node, account.address)
    later = signed_transfer(account, node, nonce=nonce + 1)
    later_hash = send_raw(node, later)
    seen = node.rpc("eth_getTransactionByHash", [later_hash])
    assert seen is not None, "a pooled transaction must be visible by its hash"
    assert seen["hash"] == later_hash
    assert seen["blockNumber"] is None
    assert int(seen["nonce"], 16) == nonce + 1
    first = send_raw(node, signed_transfer(account, node, nonce=nonce))
    wait_for_receipt(node, first)
    mined = wait_for_receipt(node, later_hash)
    assert node.rpc("eth_getTransactionByHash", [later_hash])["blockNumber"] == mined["blockNumber"]


def test_reads_are_never_an_error_while_blocks_land(network: ConsortiumNetwork) -> None:
    """client 005, 016: polling receipts and the latest state as fast as a client can while
    blocks land meets null (not mined yet) or the answer, never -32603: "not found in DB"
    (between storing a sealer's receipts and storing its block) or "State trie does not
    contain state root" (between storing a block and executing it)."""
    account = network.dev_accounts()[3]
    errors: list[str] = []
    hashes: list[str] = []
    done = threading.Event()

    def poll(node_name: str) -> None:
        node = network.node(node_name)
        while not done.is_set():
            try:
                for tx_hash in list(hashes):
                    node.rpc("eth_getTransactionReceipt", [tx_hash])
                node.rpc("eth_getBalance", [account.address, "latest"])
                node.rpc("eth_getTransactionCount", [account.address, "latest"])
            except NodeError as exc:
                errors.append(str(exc))
            time.sleep(0.002)

    pollers = [threading.Thread(target=poll, args=(n.name,)) for n in network]
    for thread in pollers:
        thread.start()
    try:
        node = network.node("operator")
        nonce = nonce_of(node, account.address)
        for k in range(6):  # one transaction per block, so that each block is watched
            hashes.append(send_raw(node, signed_transfer(account, node, nonce=nonce + k)))
            wait_for_receipt(node, hashes[-1])
    finally:
        done.set()
        for thread in pollers:
            thread.join()
    assert errors == []


def test_a_block_with_fees_is_accepted_by_every_node(network: ConsortiumNetwork) -> None:
    """vm 001: a transaction paying a priority fee goes to the sealer, and every node
    computes the same state root for its block (the builder paid the zero address, so the
    sealed block was rejected by every other node and the network split)."""
    node = network.node("bank-b")
    account = network.dev_accounts()[4]
    tx_hash = send_raw(
        node, signed_transfer(account, node, nonce=nonce_of(node, account.address), tip=10**6)
    )
    receipt = wait_for_receipt(node, tx_hash)
    block_number = int(receipt["blockNumber"], 16)
    network.wait_until_in_sync(past=block_number, timeout=60)
    block = node.rpc("eth_getBlockByNumber", [hex(block_number), False])
    for other in network:
        assert (
            other.rpc("eth_getBlockByNumber", [hex(block_number), False])["hash"] == block["hash"]
        )
        other_receipt = wait_for_receipt(other, tx_hash, timeout=30)
        assert other_receipt["blockHash"] == receipt["blockHash"]


def test_a_node_that_does_not_seal_takes_transactions(network: ConsortiumNetwork) -> None:
    """client 012, 014, 015: a node that only follows the chain accepts transactions and
    passes them whole to the sealers, which take them without a priority fee, and so after
    a restart too (it refused them: "not aware of the current chain height"; the sealers
    refused them under 0.1 gwei; some were only announced and then lost)."""
    core = network.node("core")
    account = network.dev_accounts()[0]
    for _round in range(2):
        nonce = nonce_of(core, account.address)
        hashes = [send_raw(core, signed_transfer(account, core, nonce=nonce + k)) for k in range(5)]
        receipts = [wait_for_receipt(core, tx_hash, timeout=60) for tx_hash in hashes]
        assert all(int(r["status"], 16) == 1 for r in receipts)
        network.restart("core")
        network.wait_until_in_sync(past=max(int(r["blockNumber"], 16) for r in receipts))


#: a contract that logs LOG2(topic0 = TOPIC, topic1 = the first calldata word), no data
TOPIC = "0x" + "ab" * 32
LOGGER_RUNTIME = "6000357f" + "ab" * 32 + "60006000a200"
LOGGER_INITCODE = "0x602a600c600039602a6000f3" + LOGGER_RUNTIME


def test_logs_are_filtered_by_every_topic(network: ConsortiumNetwork) -> None:
    """client 018: eth_getLogs applies every position of a topic filter (it applied only the
    first: [A, B] returned every log whose first topic was A, so a filter for one
    certificate's events returned every certificate's)."""
    node = network.node("operator")
    account = network.dev_accounts()[1]
    nonce = nonce_of(node, account.address)

    def send(data: str, nonce: int, to: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "data": data,
            "gas": 200_000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 0,
            "nonce": nonce,
            "chainId": network.chain_id,
            "type": 2,
        }
        if to is not None:
            fields["to"] = to_checksum_address(to)
        return wait_for_receipt(node, send_raw(node, account.sign_transaction(fields)))

    logger = send(LOGGER_INITCODE, nonce)["contractAddress"]
    one, two = (f"0x{k:064x}" for k in (1, 2))
    first = send(one, nonce + 1, logger)
    send(two, nonce + 2, logger)
    span = {"address": logger, "fromBlock": first["blockNumber"], "toBlock": "latest"}
    assert len(node.rpc("eth_getLogs", [{**span, "topics": [TOPIC]}])) == 2
    only_two = node.rpc("eth_getLogs", [{**span, "topics": [TOPIC, two]}])
    assert [log["topics"] for log in only_two] == [[TOPIC, two]]
    assert [
        log["topics"][1] for log in node.rpc("eth_getLogs", [{**span, "topics": [None, one]}])
    ] == [one]
    assert node.rpc("eth_getLogs", [{**span, "topics": [TOPIC, two, one]}]) == []
