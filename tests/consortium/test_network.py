"""The network as a whole: one chain from the start, sealing survives a lost sealer, a
node that was down catches up, node identities survive restarts."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from chain_client.consortium import ConsortiumNetwork
from tests.consortium.helpers import (
    nonce_of,
    send_raw,
    signed_transfer,
    stopped,
    wait_for_blocks,
    wait_for_receipt,
)


def test_network_starts_on_one_chain(network: ConsortiumNetwork) -> None:
    """client 009: every node has the same block 1 (each sealer used to seal its own block
    1 before it had a peer, and the network never joined)."""
    network.wait_until_in_sync(past=1)
    first = {node.rpc("eth_getBlockByNumber", ["0x1", False])["hash"] for node in network}
    assert len(first) == 1
    signers = {node.config.sealer for node in network.sealers}
    assert len(signers) == 3


def test_nodes_agree_after_sealing_under_load(network: ConsortiumNetwork) -> None:
    """client 007, 008, 010: transactions sent to every node at once, twenty blocks on,
    all nodes on one chain, each transaction mined once."""
    account_by_node = dict(zip([n.name for n in network], network.dev_accounts()[5:9], strict=True))
    sent: list[tuple[str, str]] = []
    for node in network:
        account = account_by_node[node.name]
        nonce = nonce_of(node, account.address)
        for k in range(5):
            sent.append(
                (node.name, send_raw(node, signed_transfer(account, node, nonce=nonce + k)))
            )
    operator = network.node("operator")
    start = operator.head()[0]
    for _name, tx_hash in sent:
        wait_for_receipt(operator, tx_hash, timeout=90)
    wait_for_blocks(operator, max(0, start + 20 - operator.head()[0]), timeout=120)
    head, _hash = network.wait_until_in_sync(past=start + 19, timeout=60)
    blocks = {}
    for node in network:
        for _name, tx_hash in sent:
            receipt = wait_for_receipt(node, tx_hash, timeout=30)
            blocks.setdefault(tx_hash, set()).add(receipt["blockHash"])
    assert all(len(found) == 1 for found in blocks.values())
    assert head >= start + 19


def test_a_node_keeps_its_enode_across_restarts(network: ConsortiumNetwork) -> None:
    """client 001: the node key survives a restart (a new key each start made the enode
    that the others dial wrong)."""
    core = network.node("core")
    before = core.config.enode
    with stopped(network, "core"):
        pass
    assert core.enode() == before


def test_a_restarted_node_resyncs(network: ConsortiumNetwork) -> None:
    """client 006, 011: a node that was down while the chain moved on catches up and
    follows it again (it used to wait for a 'best peer' forever)."""
    operator = network.node("operator")
    with stopped(network, "core"):
        wait_for_blocks(operator, 8)
    network.wait_until_in_sync(past=operator.head()[0] - 1)


def test_losing_a_sealer_keeps_the_chain_going(network: ConsortiumNetwork) -> None:
    """Three sealers, one killed: the other two alternate (Clique lets each seal one block
    of every two), transactions are mined, and the killed node resyncs when back."""
    operator = network.node("operator")
    account = network.dev_accounts()[9]
    with stopped(network, "bank-b", kill=True):
        wait_for_blocks(operator, 4, timeout=60)
        tx_hash = send_raw(
            operator, signed_transfer(account, operator, nonce=nonce_of(operator, account.address))
        )
        receipt = wait_for_receipt(operator, tx_hash, timeout=60)
        assert int(receipt["status"], 16) == 1
    assert (
        wait_for_receipt(network.node("bank-b"), tx_hash, timeout=60)["blockHash"]
        == receipt["blockHash"]
    )


def _listening(port: int, table: str) -> set[str]:
    """Local addresses bound to ``port`` in /proc/net/<table> (tcp: listening sockets)."""
    found = set()
    for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and (table == "udp" or state == "0A"):
            found.add(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
    return found


def test_nodes_listen_on_loopback_only(network: ConsortiumNetwork) -> None:
    """client 017: the devp2p (TCP) and discovery (UDP) sockets are bound to 127.0.0.1, the
    address the nodes advertise, not to every interface (they were on 0.0.0.0, reachable
    from other machines); RPC too. Read from the kernel's socket tables, without sending
    anything to another address."""
    for node in network:
        assert _listening(node.config.p2p_port, "tcp") == {"127.0.0.1"}, node.name
        assert _listening(node.config.p2p_port, "udp") == {"127.0.0.1"}, node.name
        assert _listening(node.config.rpc_port, "tcp") == {"127.0.0.1"}, node.name
