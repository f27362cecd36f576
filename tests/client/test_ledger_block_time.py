"""Smoke test of the ledger client on a chain with real 1-second blocks.

Why: with automine every transaction is mined on arrival, which hides bugs in waiting,
nonce handling of several in-flight transactions and reading events of blocks that are
not mined yet. Kept short (each waited transaction costs up to a block).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak

from chain_client.connection import connect
from chain_client.deployment import deploy_ledger
from chain_client.ledger import Ledger
from chain_client.ledger_types import Role, fragment_id_of
from chain_client.node import AnvilNode
from chain_client.verifier import Verifier
from tests.client.helpers import make_sender


@pytest.fixture(scope="module")
def slow_node() -> Iterator[AnvilNode]:
    with AnvilNode(block_time=1) as anvil:
        yield anvil


def test_lifecycle_with_one_second_blocks(slow_node: AnvilNode, tmp_path):
    w3 = connect(slow_node.rpc_url)
    senders = [make_sender(w3, a) for a in slow_node.dev_accounts(4)]
    manifest = deploy_ledger(w3, senders[0], manifest_path=tmp_path / "m.json")
    operator = Ledger(w3, manifest, senders[0])
    core, supplier, bank = (operator.as_member(s) for s in senders[1:])
    registrations = [
        operator.calls.register_member(m.account, keccak(text=str(i)), role)
        for i, (m, role) in enumerate(
            [(core, Role.CORE_ENTERPRISE), (supplier, Role.SUPPLIER), (bank, Role.FINANCIER)]
        )
    ]
    Ledger.wait_all(operator.submit_many(registrations))  # three in one block
    bank.set_credit_line(core.account, 10**9)
    now = int(w3.eth.get_block("latest")["timestamp"])
    cid = core.issue(
        bank.account, supplier.account, 10_000, now + 86_400 * 30, b"\x01" * 32, b"\x02" * 32
    ).value
    root = supplier.accept(cid).value
    pending = [supplier.submit(supplier.calls.split(root, bank.account, 100)) for _ in range(5)]
    outcomes = Ledger.wait_all(pending)
    assert sorted(o.value for o in outcomes) == [fragment_id_of(cid, s) for s in range(1, 6)]
    with pytest.raises(Ledger.errors.InvalidSplitAmount):
        supplier.split(root, bank.account, 10_000)
    report = Verifier(w3, manifest).verify(outcomes[-1].value)
    assert report.ok, report.summary()
