"""Fixtures for the chain_client tests: a real anvil node per module, the compiled test
contract, senders for anvil's funded dev accounts, and a deployed ledger
(tests/client/helpers.py builds senders and the LedgerWorld)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chain_client.compiler import Compiler, ContractArtifact
from chain_client.connection import connect
from chain_client.contract import ContractHandle, deploy
from chain_client.node import AnvilNode
from chain_client.transactions import TransactionSender
from tests.client.helpers import LedgerWorld, make_sender

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def counter_artifact(tmp_path_factory: pytest.TempPathFactory) -> ContractArtifact:
    # The shared on-disk cache (build/chain_client) keeps repeated runs fast.
    return Compiler(FIXTURES / "contracts").compile()["Counter"]


@pytest.fixture(scope="module", params=["automine", "block_time_1"])
def node(request: pytest.FixtureRequest) -> Iterator[AnvilNode]:
    """Every module runs twice: instant mining, and one block per second like a real chain."""
    block_time = None if request.param == "automine" else 1
    with AnvilNode(block_time=block_time) as anvil:
        yield anvil


@pytest.fixture(scope="module")
def automine_node() -> Iterator[AnvilNode]:
    """For tests that steer mining themselves (drop, reorg)."""
    with AnvilNode() as anvil:
        yield anvil


@pytest.fixture(scope="module")
def w3(node: AnvilNode):
    return connect(node.rpc_url)


@pytest.fixture
def sender(w3, node: AnvilNode) -> TransactionSender:
    return make_sender(w3, node.dev_accounts(1)[0])


@pytest.fixture
def counter(sender: TransactionSender, counter_artifact: ContractArtifact) -> ContractHandle:
    return deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 1_000)


@pytest.fixture(scope="module")
def ledger_node() -> Iterator[AnvilNode]:
    """Automine: the ledger's lifecycle tests are about semantics, not block timing."""
    with AnvilNode() as anvil:
        yield anvil


@pytest.fixture(scope="module")
def world(ledger_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> LedgerWorld:
    return LedgerWorld(ledger_node, tmp_path_factory.mktemp("deploy") / "manifest.json")
