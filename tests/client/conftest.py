"""Fixtures for the chain_client tests: a real anvil node per module, the compiled test
contract, and senders for anvil's funded dev accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chain_client.compiler import Compiler, ContractArtifact
from chain_client.connection import connect
from chain_client.contract import ContractHandle, deploy
from chain_client.node import AnvilNode
from chain_client.transactions import TransactionSender

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


def make_sender(w3, account, **kwargs) -> TransactionSender:
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return TransactionSender(w3, account, **kwargs)


@pytest.fixture
def sender(w3, node: AnvilNode) -> TransactionSender:
    return make_sender(w3, node.dev_accounts(1)[0])


@pytest.fixture
def counter(sender: TransactionSender, counter_artifact: ContractArtifact) -> ContractHandle:
    return deploy(sender, counter_artifact.abi, counter_artifact.bytecode, 1_000)


# -- the ledger (CreditLedger + SettlementToken), deployed through chain_client.deployment --

DAY = 86_400


class LedgerWorld:
    """A deployed ledger with one member per role, ready for a certificate's lifecycle."""

    def __init__(self, node: AnvilNode, manifest_path: Path) -> None:
        from chain_client.deployment import deploy_ledger
        from chain_client.ledger import Ledger
        from chain_client.ledger_types import Role

        self.node = node
        self.w3 = connect(node.rpc_url)
        accounts = node.dev_accounts(8)
        self.senders = [make_sender(self.w3, a) for a in accounts]
        self.manifest_path = manifest_path
        self.manifest = deploy_ledger(self.w3, self.senders[0], manifest_path=manifest_path)
        self.operator = Ledger(self.w3, self.manifest, self.senders[0])
        self.core, self.supplier, self.supplier2, self.supplier3, self.bank = (
            self.operator.as_member(s) for s in self.senders[1:6]
        )
        self.outsider = self.operator.as_member(self.senders[6])
        roles = [
            (self.core, Role.CORE_ENTERPRISE),
            (self.supplier, Role.SUPPLIER),
            (self.supplier2, Role.SUPPLIER),
            (self.supplier3, Role.SUPPLIER),
            (self.bank, Role.FINANCIER),
        ]
        for index, (member, role) in enumerate(roles):
            self.operator.register_member(member.account, _org(index), role)
        self.bank.set_credit_line(self.core.account, 10**12)
        self.operator.mint_settlement(self.bank.account, 10**11)
        self.operator.mint_settlement(self.core.account, 10**11)
        self._invoices = 0

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def issue(self, face_value: int = 1_000_000, tenor_days: int = 90) -> tuple[int, int]:
        """Issue and accept a certificate; returns (certificate id, root fragment id)."""
        from eth_utils import keccak

        self._invoices += 1
        cid = self.core.issue(
            self.bank.account,
            self.supplier.account,
            face_value,
            self.now() + tenor_days * DAY,
            keccak(text=f"invoice-{self._invoices}-{id(self)}"),
            keccak(text=f"document-{self._invoices}"),
        ).value
        assert cid is not None
        root = self.supplier.accept(cid).value
        assert root is not None
        return cid, root

    def travel(self, seconds: int) -> None:
        self.node.rpc("evm_increaseTime", [seconds])
        self.node.mine()


def _org(index: int) -> bytes:
    from chain_client.identity import org_id_hash, uscc_check_digit

    first17 = f"913501007{index:08d}"
    return org_id_hash(first17 + uscc_check_digit(first17))


@pytest.fixture(scope="module")
def ledger_node() -> Iterator[AnvilNode]:
    """Automine: the ledger's lifecycle tests are about semantics, not block timing."""
    with AnvilNode() as anvil:
        yield anvil


@pytest.fixture(scope="module")
def world(ledger_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> LedgerWorld:
    return LedgerWorld(ledger_node, tmp_path_factory.mktemp("deploy") / "manifest.json")
